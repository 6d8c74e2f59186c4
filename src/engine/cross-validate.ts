/**
 * k-fold cross-validation of an ordering method: trace i belongs to fold i mod k; for each
 * fold the method and the file-level reference learn from the other folds, and the fold's
 * traces are measured on what they learnt. Every trace is held out once, so the report
 * covers all traces. Traces are loaded one at a time.
 *
 * A fold can be measured on its own ({@link crossValidateFold}) and the folds' P* put
 * together later ({@link foldsReport}), so a service can spread the work over bounded steps.
 *
 * Memory of one fold at 1.6 M blocks: while the order is built, what `buildOrder` needs
 * (about 50 bytes per block for {@link statsOrderBuilder}: the statistics and the sort, and 4
 * more for a typical head); then block-end tables of 12.8 MB for the candidate, the file-level
 * order and `current`.
 */
import { addTrace as addToStats, type BlockStats, emptyStats } from './block-stats'
import { type BuildModel, blockLengths, modelIndex } from './build-model'
import {
  type PreloadSink,
  PreloadTally,
  type QualityReport,
  REPORT_MBITS,
  tallyTrace,
} from './evaluate'
import { blockEnds } from './image-layout'
import { FileLevelOrder, type OrderOptions } from './order'
import { BYTES_PER_MBIT } from './preload'
import { forEachTrace, subsetSource, type TraceSource } from './trace-source'
import { orderWithTypical } from './typical'

/** Makes an order from training traces. */
export type OrderBuilder = (training: TraceSource) => Promise<Uint32Array> | Uint32Array

/** Options of {@link crossValidate}. */
export interface CrossValidateOptions {
  /** Bandwidths in Mbit/s (default 25, 100, 1000). */
  mbits?: readonly number[]
  /** The order of the image now published, reported as row `current`. */
  current?: Uint32Array
}

/** P* of one fold's held-out traces: what a report is put together from. */
export interface FoldPreloads {
  fold: number
  folds: number
  /** Indices (in the source) of the held-out traces, ascending. */
  traces: number[]
  /** Rows measured, in the order of each trace's figures (`native` first, `ideal` last). */
  rows: string[]
  mbits: number[]
  /** P* in bytes, for each held-out trace, for each row, for each bandwidth. */
  preload: number[]
}

/**
 * The service's method: statistics of the training traces, then `orderFromStats`; with
 * `typicalShare`, the typical sessions' blocks moved first (typical.ts, which reads at most
 * TYPICAL_SAMPLE of the training traces twice more).
 *
 * @example await crossValidate(model, traces, 5, statsOrderBuilder(model, { untraced: 'last' }))
 */
export function statsOrderBuilder(model: BuildModel, opts: OrderOptions): OrderBuilder {
  return async (training) => {
    const stats: BlockStats = emptyStats(model)
    await forEachTrace(training, (trace) => addToStats(stats, model, trace, 0))
    return orderWithTypical(model, stats, opts, training)
  }
}

/** Folds for `k` asked over `count` traces: at most one per trace; throws below 2. */
export function foldCount(k: number, count: number): number {
  const folds = Math.min(Math.floor(k), count)
  if (!(folds >= 2)) {
    throw new RangeError(`cross-validation needs 2 folds and 2 traces, got ${k} and ${count}`)
  }
  return folds
}

/** The traces of fold `fold` (held out) and of the other folds (training), by index. */
export function foldTraces(count: number, folds: number, fold: number) {
  const held: number[] = []
  const training: number[] = []
  for (let i = 0; i < count; i++) (i % folds === fold ? held : training).push(i)
  return { held, training }
}

/**
 * One fold of {@link crossValidate}: `buildOrder` and the file-level reference learn from
 * the other folds, and the fold's held-out traces are measured on rows `native`,
 * `file-level`, `image`, `current` (when given) and `ideal`.
 *
 * @example await crossValidateFold(model, traces, 5, 0, statsOrderBuilder(model, opts))
 */
export async function crossValidateFold(
  model: BuildModel,
  traces: TraceSource,
  folds: number,
  fold: number,
  buildOrder: OrderBuilder,
  opts: CrossValidateOptions = {},
): Promise<FoldPreloads> {
  if (foldCount(folds, traces.count) !== folds) {
    throw new RangeError(`${folds} folds for ${traces.count} traces`)
  }
  if (!Number.isInteger(fold) || fold < 0 || fold >= folds) {
    throw new RangeError(`fold ${fold} is not one of ${folds}`)
  }
  const { held, training: trainIndices } = foldTraces(traces.count, folds, fold)

  // The reference learns from every training trace the method loads, and from any it skips.
  const fileLevel = new FileLevelOrder(model)
  const fed = new Uint8Array(trainIndices.length)
  const training = subsetSource(traces, trainIndices)
  const watched: TraceSource = {
    count: training.count,
    load: async (index) => {
      const trace = await training.load(index)
      if (!fed[index]) {
        fed[index] = 1
        fileLevel.add(trace)
      }
      return trace
    },
  }
  // Only the block ends are kept: the order and what it was built from can go.
  const imageEnds = blockEnds(model, await buildOrder(watched))
  for (let index = 0; index < fed.length; index++) {
    if (!fed[index]) fileLevel.add(await training.load(index))
  }
  const fileLevelEnds = blockEnds(model, fileLevel.order())

  const names = ['native', 'file-level', 'image']
  const ends = [fileLevelEnds, imageEnds]
  if (opts.current) {
    names.push('current')
    ends.push(blockEnds(model, opts.current))
  }
  const mbits = [...(opts.mbits ?? REPORT_MBITS)]
  const tally = new FoldTally(mbits)
  const lengths = blockLengths(model)
  await forEachTrace(subsetSource(traces, held), (trace) => {
    tallyTrace(tally, model, lengths, trace, names, ends)
  })
  return { fold, folds, traces: held, rows: tally.rows, mbits, preload: tally.preload }
}

/** Collects one fold's P* in the order `tallyTrace` adds them. */
class FoldTally implements PreloadSink {
  readonly rows: string[] = []
  readonly preload: number[] = []
  readonly bandwidths: number[]

  constructor(mbits: readonly number[]) {
    this.bandwidths = mbits.map((mbit) => mbit * BYTES_PER_MBIT)
  }

  add(name: string, preload: Float64Array): void {
    if (!this.rows.includes(name)) this.rows.push(name)
    for (const bytes of preload) this.preload.push(bytes)
  }
}

/**
 * The report of a cross-validation from the P* of each of its folds (in any order). Throws
 * unless `results` hold every fold exactly once, measured alike: a fold counted twice or
 * missing would skew the figures. With `fromTrace`, only the traces from that index on (in the
 * source) are reported, each still measured on orders learnt from the other folds.
 */
export function foldsReport(
  imageBytes: number,
  results: readonly FoldPreloads[],
  opts: { fromTrace?: number } = {},
): QualityReport {
  const fromTrace = opts.fromTrace ?? 0
  const first = results[0]
  if (!first) throw new RangeError('no fold to report')
  const count = results.reduce((sum, result) => sum + result.traces.length, 0)
  if (!Number.isInteger(fromTrace) || fromTrace < 0 || fromTrace >= count) {
    throw new RangeError(`fromTrace ${fromTrace} is not a trace of the ${count} measured`)
  }
  const byFold: FoldPreloads[] = []
  for (const result of results) {
    const alike =
      result.folds === first.folds &&
      result.rows.join('\n') === first.rows.join('\n') &&
      result.mbits.join() === first.mbits.join()
    if (!alike) throw new RangeError(`fold ${result.fold} was measured differently`)
    const width = result.rows.length * result.mbits.length
    if (result.preload.length !== result.traces.length * width) {
      throw new RangeError(`fold ${result.fold} has ${result.preload.length} figures`)
    }
    const inRange = Number.isInteger(result.fold) && result.fold >= 0 && result.fold < first.folds
    if (!inRange) throw new RangeError(`fold ${result.fold} is not one of ${first.folds}`)
    if (byFold[result.fold]) throw new RangeError(`fold ${result.fold} given twice`)
    byFold[result.fold] = result
  }
  for (let fold = 0; fold < first.folds; fold++) {
    if (!byFold[fold]) throw new RangeError(`fold ${fold} of ${first.folds} is missing`)
  }

  const tally = new PreloadTally(imageBytes, first.mbits)
  const bandwidths = first.mbits.length
  for (const result of byFold) {
    let at = 0
    for (let trace = 0; trace < result.traces.length; trace++) {
      for (const row of result.rows) {
        if (result.traces[trace] >= fromTrace) {
          tally.add(row, Float64Array.from(result.preload.slice(at, at + bandwidths)))
        }
        at += bandwidths
      }
    }
  }
  return tally.report()
}

/**
 * Cross-validated quality of `buildOrder` against `native`, `file-level` and `ideal` (and
 * `current`), with `k` folds (at most one per trace). Needs at least two traces.
 */
export async function crossValidate(
  model: BuildModel,
  traces: TraceSource,
  k: number,
  buildOrder: OrderBuilder,
  opts: CrossValidateOptions = {},
): Promise<QualityReport> {
  const folds = foldCount(k, traces.count)
  const results: FoldPreloads[] = []
  for (let fold = 0; fold < folds; fold++) {
    results.push(await crossValidateFold(model, traces, folds, fold, buildOrder, opts))
  }
  return foldsReport(modelIndex(model).totalBytes, results)
}
