/**
 * The preload report of an image on held-out traces, from the engine's quality measure (the
 * same figures `mkdxf` records): per order and bandwidth the median and p90 over traces of P*,
 * as bytes, as a share of the image's block data and as seconds of time to play. This file
 * only chooses the orders (the file-level reference learns from training traces, or leaves
 * each held-out trace out of its own) and prints the table.
 */
import { type BuildModel, blockLengths, buildModel, modelIndex } from '../../src/engine/build-model'
import type { ParsedImageHeader } from '../../src/engine/dxf'
import {
  evaluateOrders,
  PreloadTally,
  type QualityReport,
  REPORT_MBITS,
  type RowAtBandwidth,
  tallyTrace,
} from '../../src/engine/evaluate'
import { blockEnds } from '../../src/engine/image-layout'
import { fileLevelOrder } from '../../src/engine/order'
import { bestSharedRow } from '../../src/engine/shared-bound'
import { memorySource } from '../../src/engine/trace-source'
import type { FirstAccess } from '../../src/engine/trace-types'

export { REPORT_MBITS }

/** Row names of every report, in the order shown. */
export const ROW_NAMES = ['full download', 'native', 'file-level', 'image', 'ideal'] as const

/** Options of {@link evaluatePreload}. */
export interface EvaluateOptions {
  /**
   * Traces the file-level order learns from. Without them each held-out trace is measured on
   * the file-level order of the other held-out traces (leave one out), so no trace helps the
   * order it is measured on.
   */
  train?: readonly FirstAccess[]
  /** Default {@link REPORT_MBITS}. */
  mbits?: readonly number[]
  /**
   * Adds the row `best shared` before `ideal`: the best median and p90 any one order shared
   * by the held-out traces reaches, worked out from those traces (an oracle, see
   * src/engine/shared-bound.ts).
   */
  bestShared?: boolean
}

/** A quality report plus where its file-level order came from. */
export interface PreloadReport extends QualityReport {
  fileLevelFrom: 'train' | 'leave-one-out'
  trainTraces: number
  mbits: number[]
  /** With `bestShared`: whether the row is exact, and per bandwidth the median's sessions. */
  bestShared?: { exact: boolean; medianSessions: number[][] }
}

/** Inserts the `best shared` row before `ideal` when asked for. */
function withBestShared(
  report: PreloadReport,
  model: BuildModel,
  traces: readonly FirstAccess[],
  opts: EvaluateOptions,
): PreloadReport {
  if (!opts.bestShared) return report
  const { row, exact, medianSessions } = bestSharedRow(model, traces, report.mbits)
  const rows = [...report.rows]
  const ideal = rows.findIndex((r) => r.name === 'ideal')
  rows.splice(ideal === -1 ? rows.length : ideal, 0, row)
  return { ...report, rows, bestShared: { exact, medianSessions } }
}

/** The build model of an image's file table (regular files only, block numbering as is). */
export function modelOfImage(header: ParsedImageHeader): BuildModel {
  const files = header.files
    .filter((file) => file.kind === 'file')
    .map(({ path, size, firstBlock, blockCount }) => ({ path, size, firstBlock, blockCount }))
  return buildModel(header.blockSize, files)
}

/**
 * Measures the image's order against native order, the file-level first-access order, each
 * trace's own ideal order and a full download, at each bandwidth.
 *
 * @example
 * const report = await evaluatePreload(modelOfImage(header), header.order, heldOut, { train })
 * report.rows.find((row) => row.name === 'image')?.bandwidths[0].median.seconds
 */
export async function evaluatePreload(
  model: BuildModel,
  imageOrder: Uint32Array,
  traces: readonly FirstAccess[],
  opts: EvaluateOptions = {},
): Promise<PreloadReport> {
  if (traces.length === 0) throw new Error('no held-out trace to measure on')
  const mbits = [...(opts.mbits ?? REPORT_MBITS)]
  if (opts.train) {
    const report = await evaluateOrders(
      model,
      { 'file-level': fileLevelOrder(model, opts.train), image: imageOrder },
      memorySource(traces),
      { mbits },
    )
    const full = {
      ...report,
      fileLevelFrom: 'train' as const,
      trainTraces: opts.train.length,
      mbits,
    }
    return withBestShared(full, model, traces, opts)
  }

  // Leave one out: the file-level order differs per trace, so traces go to the tally one by one.
  const tally = new PreloadTally(modelIndex(model).totalBytes, mbits)
  const lengths = blockLengths(model)
  const imageEnds = blockEnds(model, imageOrder)
  traces.forEach((trace, i) => {
    const others = traces.filter((_, j) => j !== i)
    const fileLevelEnds = blockEnds(model, fileLevelOrder(model, others))
    tallyTrace(
      tally,
      model,
      lengths,
      trace,
      ['native', 'file-level', 'image'],
      [fileLevelEnds, imageEnds],
    )
  })
  const report = tally.report()
  const full = {
    ...report,
    fileLevelFrom: 'leave-one-out' as const,
    trainTraces: traces.length - 1,
    mbits,
  }
  return withBestShared(full, model, traces, opts)
}

const percent = (fraction: number) =>
  fraction === 0 ? '0%' : fraction < 0.001 ? '<0.1%' : `${(fraction * 100).toFixed(1)}%`

const seconds = (value: number) => (value < 10 ? value.toFixed(2) : value.toFixed(1))

/** A cell as `median/p90 s (median%/p90%)`. */
function formatCell(cell: RowAtBandwidth): string {
  return (
    `${seconds(cell.median.seconds)}/${seconds(cell.p90.seconds)} s ` +
    `(${percent(cell.median.fraction)}/${percent(cell.p90.fraction)})`
  )
}

/**
 * The report as a text table: one row per order, one column per bandwidth (all, or `mbits`),
 * each cell the time to play at the median and p90 with the preload as a share of the image.
 */
export function formatReport(report: QualityReport, mbits?: readonly number[]): string {
  const shown = (cell: RowAtBandwidth) => !mbits || mbits.includes(cell.mbit)
  const columns = report.rows[0]?.bandwidths.filter(shown).map((cell) => cell.mbit) ?? []
  const head = ['order', ...columns.map((mbit) => `${mbit} Mbit/s`)]
  const body = report.rows.map((row) => [row.name, ...row.bandwidths.filter(shown).map(formatCell)])
  const widths = head.map((_, c) => Math.max(...[head, ...body].map((line) => line[c].length)))
  const line = (cells: string[]) =>
    cells
      .map((cell, c) => cell.padEnd(widths[c]))
      .join('  ')
      .trimEnd()
  return [
    'time to play in seconds, median/p90 over the traces (preload as a share of the image)',
    line(head),
    ...body.map(line),
  ].join('\n')
}
