import { describe, expect, it } from 'vitest'
import { addTrace, emptyStats } from '../../src/engine/block-stats'
import { type BuildModel, blockLengths, modelIndex } from '../../src/engine/build-model'
import {
  crossValidate,
  crossValidateFold,
  type FoldPreloads,
  foldsReport,
  foldTraces,
  statsOrderBuilder,
} from '../../src/engine/cross-validate'
import { REPORT_MBITS } from '../../src/engine/evaluate'
import { blockEnds } from '../../src/engine/image-layout'
import { fileLevelOrder, orderFromStats } from '../../src/engine/order'
import {
  BYTES_PER_MBIT,
  idealPreload,
  nativePreload,
  preloadFromEnds,
} from '../../src/engine/preload'
import { serialiseTrace } from '../../src/engine/trace-codec'
import { parseTrace } from '../../src/engine/trace-parse'
import { memorySource } from '../../src/engine/trace-source'
import type { FirstAccess } from '../../src/engine/trace-types'
import { header, type Rng, randomInt, randomModel, randomReads, seededRng } from './engine-fixtures'

async function randomTrace(rng: Rng, model: BuildModel): Promise<FirstAccess> {
  const text = serialiseTrace(header('f'), randomReads(rng, model, randomInt(rng, 1, 40)))
  return (await parseTrace(new TextEncoder().encode(text), { model })).firstAccess
}

async function setup(seed: number, count: number) {
  const rng = seededRng(seed)
  const model = randomModel(rng)
  const traces: FirstAccess[] = []
  for (let i = 0; i < count; i++) traces.push(await randomTrace(rng, model))
  // Some other image as the published one: blocks in reverse.
  const current = Uint32Array.from({ length: model.blockCount }, (_, i) => model.blockCount - 1 - i)
  return { model, traces, current }
}

/** What one fold should give, worked out step by step from the engine's parts. */
function expectedFold(
  model: BuildModel,
  traces: FirstAccess[],
  current: Uint32Array,
  folds: number,
  fold: number,
): number[] {
  const training = traces.filter((_, i) => i % folds !== fold)
  const held = traces.filter((_, i) => i % folds === fold)
  const stats = emptyStats(model)
  for (const trace of training) addTrace(stats, model, trace, 0)
  const image = blockEnds(model, orderFromStats(model, stats, { untraced: 'last' }))
  const files = blockEnds(model, fileLevelOrder(model, training))
  const now = blockEnds(model, current)
  const bandwidths = REPORT_MBITS.map((mbit) => mbit * BYTES_PER_MBIT)
  const lengths = blockLengths(model)
  return held.flatMap((trace) =>
    [
      nativePreload(model, trace, bandwidths),
      preloadFromEnds(files, trace, bandwidths),
      preloadFromEnds(image, trace, bandwidths),
      preloadFromEnds(now, trace, bandwidths),
      idealPreload(lengths, trace, bandwidths),
    ].flatMap((row) => [...row]),
  )
}

describe('crossValidateFold', () => {
  it('measures the held-out traces of one fold on what the other folds taught', async () => {
    const { model, traces, current } = await setup(11, 12)
    for (let fold = 0; fold < 5; fold++) {
      const result = await crossValidateFold(
        model,
        memorySource(traces),
        5,
        fold,
        statsOrderBuilder(model, { untraced: 'last' }),
        { current },
      )
      expect(result.fold).toBe(fold)
      expect(result.traces).toEqual(foldTraces(12, 5, fold).held)
      expect(result.rows).toEqual(['native', 'file-level', 'image', 'current', 'ideal'])
      expect(result.mbits).toEqual([...REPORT_MBITS])
      expect(result.preload).toEqual(expectedFold(model, traces, current, 5, fold))
    }
  })

  it('loads each trace once', async () => {
    const { model, traces } = await setup(12, 9)
    const loads = new Array(traces.length).fill(0)
    const source = {
      count: traces.length,
      load: (index: number) => {
        loads[index]++
        return traces[index]
      },
    }
    await crossValidateFold(model, source, 3, 1, statsOrderBuilder(model, { untraced: 'first' }))
    expect(loads).toEqual(new Array(traces.length).fill(1))
  })

  it('refuses a fold that is not one of the folds, and more folds than traces', async () => {
    const { model, traces } = await setup(13, 4)
    const builder = statsOrderBuilder(model, { untraced: 'last' })
    const source = memorySource(traces)
    await expect(crossValidateFold(model, source, 4, 4, builder)).rejects.toThrow(RangeError)
    await expect(crossValidateFold(model, source, 4, -1, builder)).rejects.toThrow(RangeError)
    await expect(crossValidateFold(model, source, 5, 0, builder)).rejects.toThrow(RangeError)
  })
})

describe('foldsReport', () => {
  async function measuredFolds(seed: number, count: number, folds: number) {
    const { model, traces, current } = await setup(seed, count)
    const results: FoldPreloads[] = []
    for (let fold = 0; fold < folds; fold++) {
      const builder = statsOrderBuilder(model, { untraced: 'last' })
      const result = await crossValidateFold(model, memorySource(traces), folds, fold, builder, {
        current,
      })
      // As the service keeps them: JSON in a scratch object.
      results.push(JSON.parse(JSON.stringify(result)) as FoldPreloads)
    }
    const whole = await crossValidate(
      model,
      memorySource(traces),
      folds,
      statsOrderBuilder(model, { untraced: 'last' }),
      { current },
    )
    return { model, results, whole }
  }

  it('puts stored folds, in any order, together into the report crossValidate gives', async () => {
    const { model, results, whole } = await measuredFolds(21, 13, 5)
    const report = foldsReport(modelIndex(model).totalBytes, [...results].reverse())
    expect(report).toEqual(whole)
    expect(report.traces).toBe(13)
    expect(report.rows.map((row) => row.name)).toEqual([
      'full download',
      'native',
      'file-level',
      'image',
      'current',
      'ideal',
    ])
  })

  it('reports only the traces from fromTrace on when asked', async () => {
    const { model, results, whole } = await measuredFolds(23, 13, 5)
    const bytes = modelIndex(model).totalBytes
    const last4 = foldsReport(bytes, results, { fromTrace: 9 })
    expect(last4.traces).toBe(4)
    // Trace 12 alone: its figures are the median and the p90 of every row.
    const alone = foldsReport(bytes, results, { fromTrace: 12 })
    expect(alone.traces).toBe(1)
    const fold = results[12 % 5]
    const at = fold.traces.indexOf(12) * fold.rows.length * fold.mbits.length
    const image = fold.rows.indexOf('image')
    const imageRow = alone.rows.find((row) => row.name === 'image')!
    expect(imageRow.bandwidths[0].median.bytes).toBe(fold.preload[at + image * fold.mbits.length])
    expect(imageRow.bandwidths[0].p90.bytes).toBe(imageRow.bandwidths[0].median.bytes)
    expect(foldsReport(bytes, results, { fromTrace: 0 })).toEqual(whole)
  })

  it('refuses a fromTrace that is not one of the traces measured', async () => {
    const { model, results } = await measuredFolds(23, 13, 5)
    const bytes = modelIndex(model).totalBytes
    for (const fromTrace of [13, 20, -1, 2.5, Number.NaN]) {
      expect(() => foldsReport(bytes, results, { fromTrace })).toThrow(RangeError)
    }
  })

  it('refuses a fold given twice, a missing fold, and folds measured differently', async () => {
    const { model, results } = await measuredFolds(22, 7, 3)
    const bytes = modelIndex(model).totalBytes
    expect(() => foldsReport(bytes, [...results, results[1]])).toThrow(/given twice/)
    expect(() => foldsReport(bytes, results.slice(0, 2))).toThrow(/missing/)
    const otherRows = { ...results[2], rows: results[2].rows.slice(1) }
    expect(() => foldsReport(bytes, [results[0], results[1], otherRows])).toThrow(RangeError)
    const cut = { ...results[2], preload: results[2].preload.slice(1) }
    expect(() => foldsReport(bytes, [results[0], results[1], cut])).toThrow(RangeError)
    expect(() => foldsReport(bytes, [])).toThrow(RangeError)
  })
})
