/**
 * The issue's quality targets, checked on a report of held-out sessions at one bandwidth
 * (median P*): the image within 1.25 times the sessions' own orders (`ideal`), at most a tenth
 * of `native`, and below `file-level`. With the oracle row `best shared`, also whether any
 * order shared by the sessions could meet the first target at all.
 */
import type { QualityReport } from '../../src/engine/evaluate'
import { BEST_SHARED_ROW } from '../../src/engine/shared-bound'

/** How far above `ideal` the image may be. */
export const IDEAL_FACTOR = 1.25

/** Median P* in bytes of a row at a bandwidth; NaN when the report has no such cell. */
export function medianBytes(report: QualityReport, row: string, mbit: number): number {
  const cell = report.rows.find((r) => r.name === row)?.bandwidths.find((c) => c.mbit === mbit)
  return cell?.median.bytes ?? Number.NaN
}

/**
 * One line per target with its figures, at `mbit` (100 by default).
 *
 * @example targetVerdicts(report) // ['image within 1.25x of ideal: does NOT hold (...)', ...]
 */
export function targetVerdicts(report: QualityReport, mbit = 100): string[] {
  const [image, ideal, native, fileLevel, shared] = [
    'image',
    'ideal',
    'native',
    'file-level',
    BEST_SHARED_ROW,
  ].map((row) => medianBytes(report, row, mbit))
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(2)} MiB`
  const verdict = (holds: boolean) => (holds ? 'holds' : 'does NOT hold')
  const lines = [
    `image within ${IDEAL_FACTOR}x of ideal: ${verdict(image <= IDEAL_FACTOR * ideal)} ` +
      `(${mib(image)} = ${(image / ideal).toFixed(2)}x of ${mib(ideal)})`,
    `image <= 1/10 of native: ${verdict(image <= native / 10)} ` +
      `(${mib(image)} against ${mib(native / 10)}; native ${mib(native)})`,
    `image better than file-level: ${verdict(image < fileLevel)} ` +
      `(${mib(image)} against ${mib(fileLevel)})`,
  ]
  if (!Number.isNaN(shared)) {
    const reachable = shared <= IDEAL_FACTOR * ideal
    lines.push(
      `${IDEAL_FACTOR}x of ideal reachable by a shared order: ${reachable ? 'yes' : 'NO'} ` +
        `(best shared ${mib(shared)} = ${(shared / ideal).toFixed(2)}x of ideal; ` +
        `image ${(image / shared).toFixed(2)}x of best shared)`,
      `1/10 of native reachable by a shared order: ${shared <= native / 10 ? 'yes' : 'NO'} ` +
        `(best shared ${mib(shared)} against ${mib(native / 10)})`,
    )
  }
  return lines
}
