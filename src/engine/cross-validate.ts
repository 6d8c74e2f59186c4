/**
 * k-fold cross-validation of an ordering method: trace i belongs to fold i mod k; for each
 * fold the method and the file-level reference learn from the other folds, and the fold's
 * traces are measured on what they learnt. Every trace is held out once, so the report
 * covers all traces. Traces are loaded one at a time.
 *
 * Memory at 1.6 M blocks: block-end tables of 12.8 MB for the candidate, the file-level
 * order and `current` when given, plus what `buildOrder` needs (about 40 MB for the
 * statistics of {@link statsOrderBuilder}).
 */
import { addTrace as addToStats, type BlockStats, emptyStats } from './block-stats'
import { type BuildModel, blockLengths, modelIndex } from './build-model'
import { PreloadTally, type QualityReport, tallyTrace } from './evaluate'
import { blockEnds } from './image-layout'
import { FileLevelOrder, type OrderOptions, orderFromStats } from './order'
import { forEachTrace, subsetSource, type TraceSource } from './trace-source'

/** Makes an order from training traces. */
export type OrderBuilder = (training: TraceSource) => Promise<Uint32Array> | Uint32Array

/** Options of {@link crossValidate}. */
export interface CrossValidateOptions {
  /** Bandwidths in Mbit/s (default 25, 100, 1000). */
  mbits?: readonly number[]
  /** The order of the image now published, reported as row `current`. */
  current?: Uint32Array
}

/**
 * The service's method: statistics of the training traces, then {@link orderFromStats}.
 *
 * @example await crossValidate(model, traces, 5, statsOrderBuilder(model, { untraced: 'last' }))
 */
export function statsOrderBuilder(model: BuildModel, opts: OrderOptions): OrderBuilder {
  return async (training) => {
    const stats: BlockStats = emptyStats(model)
    await forEachTrace(training, (trace) => addToStats(stats, model, trace, 0))
    return orderFromStats(model, stats, opts)
  }
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
  const folds = Math.min(Math.floor(k), traces.count)
  if (folds < 2) throw new RangeError(`cross-validation needs 2 folds and 2 traces, got ${k}`)
  const tally = new PreloadTally(modelIndex(model).totalBytes, opts.mbits)
  const lengths = blockLengths(model)
  const currentEnds = opts.current && blockEnds(model, opts.current)

  for (let fold = 0; fold < folds; fold++) {
    const trainIndices: number[] = []
    const testIndices: number[] = []
    for (let i = 0; i < traces.count; i++) (i % folds === fold ? testIndices : trainIndices).push(i)

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
    const imageEnds = blockEnds(model, await buildOrder(watched))
    for (let index = 0; index < fed.length; index++) {
      if (!fed[index]) fileLevel.add(await training.load(index))
    }
    const fileLevelEnds = blockEnds(model, fileLevel.order())

    const names = ['native', 'file-level', 'image']
    const ends = [fileLevelEnds, imageEnds]
    if (currentEnds) {
      names.push('current')
      ends.push(currentEnds)
    }
    await forEachTrace(subsetSource(traces, testIndices), (trace) => {
      tallyTrace(tally, model, lengths, trace, names, ends)
    })
  }
  return tally.report()
}
