/**
 * Whether a run publishes its candidate: only when the cross-validated median P* at 100 Mbit/s
 * of the service's method (row `image`) is strictly below that of the image now published (row
 * `current`). Equal is not better: a new image costs every launcher a download.
 */
import type { QualityReport, QualityRow } from '../../../engine/evaluate'

/** The bandwidth the decision is taken at, in Mbit/s. */
export const DECISION_MBIT = 100

/** One side of a run's comparison, as a training run records it. */
export interface RunQuality {
  /** Report row: `current` (before) or `image` (the candidate's method). */
  row: string
  /** Held-out traces measured. */
  traces: number
  folds: number
  imageBytes: number
  bandwidths: QualityRow['bandwidths']
}

export interface RunDecision {
  deploy: boolean
  /** The order method (ORDER_METHODS) the candidate is ordered by. */
  method?: string
  reason: string
  before: RunQuality
  after: RunQuality
}

const MiB = 1024 * 1024
const mib = (bytes: number) => `${(bytes / MiB).toFixed(2)} MiB`

function rowOf(report: QualityReport, name: string): QualityRow {
  const row = report.rows.find((candidate) => candidate.name === name)
  if (!row) throw new Error(`quality report has no row ${name}`)
  return row
}

function medianAt(row: QualityRow): number {
  const at = row.bandwidths.find((bandwidth) => bandwidth.mbit === DECISION_MBIT)
  if (!at) throw new Error(`quality report has no figures at ${DECISION_MBIT} Mbit/s`)
  return at.median.bytes
}

/** Median P* at the decision's bandwidth of a report's row `image`. */
export function imageMedian(report: QualityReport): number {
  return medianAt(rowOf(report, 'image'))
}

/**
 * Decides on a cross-validated report that has the rows `current` and `image`; `method` names
 * the order row `image` was measured on, and `scope` the traces when not all were, for the
 * reason.
 */
export function decide(
  report: QualityReport,
  folds: number,
  method?: { name: string; label: string },
  scope?: string,
): RunDecision {
  const quality = (name: string): RunQuality => ({
    row: name,
    traces: report.traces,
    folds,
    imageBytes: report.imageBytes,
    bandwidths: rowOf(report, name).bandwidths,
  })
  const before = quality('current')
  const after = quality('image')
  const was = medianAt(rowOf(report, 'current'))
  const now = medianAt(rowOf(report, 'image'))
  const deploy = now < was
  const by = `${scope ? ` on ${scope}` : ''}${method ? `; order: ${method.label}` : ''}`
  const reason = deploy
    ? `better: median preload at ${DECISION_MBIT} Mbit/s ${mib(now)} instead of ${mib(was)}${by}`
    : `not better: median preload at ${DECISION_MBIT} Mbit/s ${mib(now)}, current ${mib(was)}${by}`
  return { deploy, reason, before, after, ...(method ? { method: method.name } : {}) }
}
