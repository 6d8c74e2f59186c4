import { describe, expect, it } from 'vitest'
import { addTrace, emptyStats } from '../../src/engine/block-stats'
import { type BuildModel, blockLengths, buildModel } from '../../src/engine/build-model'
import { evaluateOrders, quantile } from '../../src/engine/evaluate'
import { blockEnds } from '../../src/engine/image-layout'
import { fileLevelOrder, orderFromStats } from '../../src/engine/order'
import { BYTES_PER_MBIT, preloadFromEnds } from '../../src/engine/preload'
import {
  BEST_SHARED_ROW,
  bestSharedRow,
  quantileRank,
  sharedOrder,
  sharedOrderBound,
} from '../../src/engine/shared-bound'
import { serialiseTrace } from '../../src/engine/trace-codec'
import { parseTrace } from '../../src/engine/trace-parse'
import { memorySource } from '../../src/engine/trace-source'
import type { FirstAccess, TraceRead } from '../../src/engine/trace-types'
import {
  databaseModel,
  databaseSessions,
  filesFor,
  header,
  randomInt,
  seededRng,
} from './engine-fixtures'

function trace(pairs: Array<[block: number, tMs: number]>): FirstAccess {
  const sorted = [...pairs].sort((a, b) => a[1] - b[1] || a[0] - b[0])
  return {
    blocks: Uint32Array.from(sorted.map(([block]) => block)),
    tMs: Uint32Array.from(sorted.map(([, t]) => t)),
  }
}

/** Every permutation of 0 .. n - 1. */
function* permutations(n: number): Generator<Uint32Array> {
  const order = Uint32Array.from({ length: n }, (_, i) => i)
  const swap = (i: number, j: number) => {
    ;[order[i], order[j]] = [order[j], order[i]]
  }
  function* from(k: number): Generator<Uint32Array> {
    if (k === n) {
      yield order
      return
    }
    for (let i = k; i < n; i++) {
      swap(k, i)
      yield* from(k + 1)
      swap(k, i)
    }
  }
  yield* from(0)
}

/** The least quantile of P* over all orders of the build, per bandwidth. */
function bruteForce(
  model: BuildModel,
  traces: FirstAccess[],
  bandwidths: number[],
  q: number,
): number[] {
  const best = bandwidths.map(() => Number.POSITIVE_INFINITY)
  for (const order of permutations(model.blockCount)) {
    const ends = blockEnds(model, order)
    const preloads = traces.map((t) => preloadFromEnds(ends, t, bandwidths))
    bandwidths.forEach((_, b) => {
      best[b] = Math.min(
        best[b],
        quantile(
          preloads.map((p) => p[b]),
          q,
        ),
      )
    })
  }
  return best
}

/** A random session: some of the build's blocks, first touched at random times up to 60 ms. */
function randomSession(rng: () => number, blockCount: number): FirstAccess {
  const pairs: Array<[number, number]> = []
  for (let block = 0; block < blockCount; block++) {
    if (rng() < 0.45) pairs.push([block, randomInt(rng, 0, 60)])
  }
  if (pairs.length === 0) pairs.push([randomInt(rng, 0, blockCount - 1), randomInt(rng, 0, 60)])
  return trace(pairs)
}

describe('sharedOrderBound', () => {
  it('equals the best quantile over every order of a tiny build', () => {
    // Six blocks of unequal length (last blocks of files are short), 720 orders.
    const model = buildModel(
      1000,
      filesFor(1000, [
        ['a', 2300],
        ['b', 1000],
        ['c', 1700],
      ]),
    )
    expect(model.blockCount).toBe(6)
    const bandwidths = [5_000, 40_000, 400_000]
    for (let seed = 1; seed <= 12; seed++) {
      const rng = seededRng(seed)
      const traces = Array.from({ length: randomInt(rng, 2, 6) }, () => randomSession(rng, 6))
      for (const q of [0.5, 0.9]) {
        const expected = bruteForce(model, traces, bandwidths, q)
        const bound = sharedOrderBound(blockLengths(model), traces, bandwidths, q)
        const context = `seed ${seed}, ${traces.length} sessions, q ${q}`
        bound.forEach((result, b) => {
          expect(result.exact, context).toBe(true)
          expect(result.bytes, context).toBeCloseTo(expected[b], 6)
          expect(result.sessions, context).toHaveLength(quantileRank(traces.length, q))
        })
      }
    }
  })

  it('is reached by the order of its sessions', () => {
    // Two sessions that share block 0 and each need another block at once: no order serves
    // both, so the median of three needs one of them plus the session that needs little.
    const model = buildModel(100, filesFor(100, [['f', 500]]))
    const traces = [
      trace([
        [0, 0],
        [1, 0],
      ]),
      trace([
        [0, 0],
        [2, 0],
        [3, 0],
      ]),
      trace([[0, 0]]),
    ]
    const [bound] = sharedOrderBound(blockLengths(model), traces, [1000])
    expect(bound.bytes).toBe(200)
    expect(bound.sessions).toEqual([0, 2])
    const ends = blockEnds(
      model,
      sharedOrder(
        model,
        bound.sessions.map((i) => traces[i]),
      ),
    )
    const preloads = traces.map((t) => preloadFromEnds(ends, t, [1000])[0])
    expect(preloads).toEqual([200, 400, 100])
    expect(quantile(preloads, 0.5)).toBe(bound.bytes)
  })

  it('stops being exact after maxSets sets, and then only answers a reachable figure', () => {
    const rng = seededRng(5)
    const blockCount = 40
    const model = buildModel(1000, filesFor(1000, [['f', blockCount * 1000]]))
    const traces = Array.from({ length: 12 }, () => randomSession(rng, blockCount))
    const lengths = blockLengths(model)
    const [exact] = sharedOrderBound(lengths, traces, [50_000])
    const [cut] = sharedOrderBound(lengths, traces, [50_000], 0.5, { maxSets: 3 })
    expect(exact.exact).toBe(true)
    expect(cut.exact).toBe(false)
    expect(cut.sets).toBe(3)
    expect(cut.bytes).toBeGreaterThanOrEqual(exact.bytes)
    const ends = blockEnds(
      model,
      sharedOrder(
        model,
        cut.sessions.map((i) => traces[i]),
      ),
    )
    const preloads = traces.map((t) => preloadFromEnds(ends, t, [50_000])[0])
    expect(quantile(preloads, 0.5)).toBeLessThanOrEqual(cut.bytes)
  })
})

describe('bestSharedRow', () => {
  async function parsed(model: BuildModel, reads: TraceRead[]) {
    const text = serialiseTrace(header('s'), reads)
    return (await parseTrace(new TextEncoder().encode(text), { model })).firstAccess
  }

  it('lies between the held-out sessions own orders and every learnt order', async () => {
    const shape = databaseModel()
    const { model } = shape
    const mbits = [25, 100, 1000]
    for (const seed of [1, 2, 3]) {
      const sessions = databaseSessions(seededRng(seed), shape, 24)
      const traces = await Promise.all(sessions.map((s) => parsed(model, s.reads)))
      const heldOut = traces.filter((_, i) => i % 4 === 3)
      const training = traces.filter((_, i) => i % 4 !== 3)
      const stats = emptyStats(model)
      for (const t of training) addTrace(stats, model, t, 0)
      const image = orderFromStats(model, stats, { untraced: 'last' })
      const report = await evaluateOrders(
        model,
        { image, 'file-level': fileLevelOrder(model, training) },
        memorySource(heldOut),
        { mbits },
      )
      const { row, exact, medianSessions } = bestSharedRow(model, heldOut, mbits)
      expect(row.name).toBe(BEST_SHARED_ROW)
      expect(exact).toBe(true)
      const cell = (name: string, b: number) =>
        report.rows.find((r) => r.name === name)!.bandwidths[b]
      mbits.forEach((mbit, b) => {
        const context = `seed ${seed} at ${mbit} Mbit/s`
        for (const q of ['median', 'p90'] as const) {
          const bound = row.bandwidths[b][q].bytes
          expect(bound, context).toBeGreaterThanOrEqual(cell('ideal', b)[q].bytes)
          for (const name of ['image', 'file-level', 'native']) {
            expect(bound, `${context}, ${name}`).toBeLessThanOrEqual(cell(name, b)[q].bytes)
          }
        }
        // The order of the median's sessions reaches the figure on all held-out sessions.
        const ends = blockEnds(
          model,
          sharedOrder(
            model,
            medianSessions[b].map((i) => heldOut[i]),
          ),
        )
        const preloads = heldOut.map((t) => preloadFromEnds(ends, t, [mbit * BYTES_PER_MBIT])[0])
        expect(quantile(preloads, 0.5), context).toBeCloseTo(row.bandwidths[b].median.bytes, 3)
      })
    }
  })
})
