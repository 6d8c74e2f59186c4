import { describe, expect, it } from 'vitest'
import { addTrace, type BlockStats, emptyStats, NEVER } from '../../src/engine/block-stats'
import { type BuildModel, blockLengths, buildModel } from '../../src/engine/build-model'
import { statsOrderBuilder } from '../../src/engine/cross-validate'
import { assertPermutation } from '../../src/engine/image-layout'
import { ORDER_METHODS, orderFromStats } from '../../src/engine/order'
import { preloadBytes } from '../../src/engine/preload'
import { memorySource, type TraceSource } from '../../src/engine/trace-source'
import type { FirstAccess } from '../../src/engine/trace-types'
import { rarityScore, TYPICAL_SAMPLE, typicalNeed, withTypicalHead } from '../../src/engine/typical'
import { filesFor, randomInt, randomModel, seededRng } from './engine-fixtures'

function trace(pairs: Array<[block: number, tMs: number]>): FirstAccess {
  const sorted = [...pairs].sort((a, b) => a[1] - b[1] || a[0] - b[0])
  return {
    blocks: Uint32Array.from(sorted.map(([block]) => block)),
    tMs: Uint32Array.from(sorted.map(([, t]) => t)),
  }
}

function statsOf(model: BuildModel, traces: FirstAccess[]): BlockStats {
  const stats = emptyStats(model)
  for (const one of traces) addTrace(stats, model, one, 1000)
  return stats
}

/** A source that counts how often each trace is loaded. */
function countingSource(traces: FirstAccess[]): TraceSource & { loads: number[] } {
  const loads = traces.map(() => 0)
  return {
    count: traces.length,
    loads,
    load: (index) => {
      loads[index]++
      return traces[index]
    },
  }
}

// 16 files of 1 KiB: one block each, so block b is file b.
const model = buildModel(
  1024,
  filesFor(
    1024,
    Array.from({ length: 16 }, (_, i): [string, number] => [`m${i}.pyc`, 1024]),
  ),
)
const typical = ORDER_METHODS.find((method) => method.name === 'typical')!

describe('the typical sessions first (typical.ts)', () => {
  // Blocks 0-2 everyone loads at start; module 5 two sessions load at 10 ms; sessions C and D
  // each load a module nobody else does (10 and 11) at 5 ms, and module 6 at 40 ms.
  const a = trace([
    [0, 0],
    [1, 1],
    [2, 2],
    [5, 10],
  ])
  const b = trace([
    [0, 0],
    [1, 1],
    [2, 2],
    [5, 12],
  ])
  const c = trace([
    [0, 0],
    [1, 1],
    [2, 2],
    [10, 5],
    [6, 40],
  ])
  const d = trace([
    [0, 0],
    [1, 1],
    [2, 2],
    [11, 5],
    [6, 41],
  ])
  const training = [a, b, c, d]

  it('scores a session by how rare what it reads is', () => {
    const stats = statsOf(model, training)
    const lengths = blockLengths(model)
    // a: 3 blocks read by 4 sessions, one by 2; c: 3 by 4, one by 2 and one by 1.
    expect(rarityScore(stats, lengths, a.blocks)).toBe(3 * 256 + 512)
    expect(rarityScore(stats, lengths, c.blocks)).toBe(3 * 256 + 512 + 1024)
  })

  it('needs the blocks of the most typical half, by their earliest need among them', async () => {
    const stats = statsOf(model, training)
    const need = await typicalNeed(model, stats, memorySource(training), 0.5)
    const needed = [...need.keys()].filter((block) => need[block] !== NEVER)
    expect(needed).toEqual([0, 1, 2, 5])
    expect(need[5]).toBe(10)
  })

  it('puts those blocks first and leaves the rest in the statistics order', async () => {
    const stats = statsOf(model, training)
    const byTenth = orderFromStats(model, stats, { untraced: 'last' })
    const order = await statsOrderBuilder(model, { untraced: 'last', ...typical })(
      memorySource(training),
    )
    assertPermutation(order, model.blockCount)
    expect([...order.slice(0, 4)]).toEqual([0, 1, 2, 5])
    const rest = [...byTenth].filter((block) => ![0, 1, 2, 5].includes(block))
    expect([...order.slice(4)]).toEqual(rest)
  })

  it('serves a typical new session sooner than timing blocks by their first reader', async () => {
    const first = ORDER_METHODS.find((method) => method.name === 'first')!
    const byFirst = await statsOrderBuilder(model, { untraced: 'last', ...first })(
      memorySource(training),
    )
    const byTypical = await statsOrderBuilder(model, { untraced: 'last', ...typical })(
      memorySource(training),
    )
    // A new session like a and b. Under `first`, modules 10 and 11 (5 ms) go before 5.
    const next = trace([
      [0, 0],
      [1, 1],
      [2, 2],
      [5, 11],
    ])
    const bandwidth = 102_400 // 0.1 KiB per ms
    expect(byFirst.indexOf(10)).toBeLessThan(byFirst.indexOf(5))
    // Module 5 ends at 4 KiB and is needed at 11 ms, when 1.1 KiB have come.
    expect(preloadBytes(model, byTypical, next, bandwidth)).toBeCloseTo(4096 - 1126.4)
    expect(preloadBytes(model, byTypical, next, bandwidth)).toBeLessThan(
      preloadBytes(model, byFirst, next, bandwidth),
    )
  })

  it('keeps blocks no trace read in front when they lead the order', async () => {
    const stats = statsOf(model, training)
    const order = orderFromStats(model, stats, { untraced: 'first' })
    // Blocks 0, 1, 2, 5, 6, 10 and 11 were read: the other 9 lead.
    const untraced = [...order.slice(0, 9)]
    expect(untraced.every((block) => stats.count[block] === 0)).toBe(true)
    withTypicalHead(order, await typicalNeed(model, stats, memorySource(training), 0.5), stats)
    expect([...order.slice(0, 9)]).toEqual(untraced)
    expect([...order.slice(9, 13)]).toEqual([0, 1, 2, 5])
    assertPermutation(order, model.blockCount)
  })

  it('keeps every leading untraced block in front when a trace not yet counted is typical', () => {
    // Statistics of traces {0, 1, 2} and {0, 1, 3}; a newer trace read 0 and 4, not yet counted.
    const stats = statsOf(model, [
      trace([
        [0, 0],
        [1, 1],
        [2, 2],
      ]),
      trace([
        [0, 0],
        [1, 1],
        [3, 3],
      ]),
    ])
    const order = orderFromStats(model, stats, { untraced: 'first' })
    expect(order[0]).toBe(4)
    const need = new Uint32Array(model.blockCount).fill(NEVER)
    need[0] = 0
    need[4] = 2
    withTypicalHead(order, need, stats)
    const untraced = [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
    expect([...order.slice(0, 11)]).toEqual(untraced)
    expect([...order.slice(11, 13)]).toEqual([0, 4])
    expect([...order.slice(13)]).toEqual([1, 2, 3])
  })

  it('never counts a trace that reads nothing (removed meanwhile) as typical', async () => {
    const empty = trace([])
    const stats = statsOf(model, [a])
    const need = await typicalNeed(model, stats, memorySource([empty, a]), 0.5)
    expect([...need.keys()].filter((block) => need[block] !== NEVER)).toEqual([0, 1, 2, 5])
  })

  it('serves exactly the share asked of the sample, whatever floating point says', async () => {
    const wide = buildModel(
      1024,
      filesFor(
        1024,
        Array.from({ length: 50 }, (_, i): [string, number] => [`f${i}`, 1024]),
      ),
    )
    // 50 equally typical traces, one block each: 0.14 of them is 7, not 8.
    const many = Array.from({ length: 50 }, (_, i) => trace([[i, i]]))
    const need = await typicalNeed(wide, statsOf(wide, many), memorySource(many), 0.14)
    expect([...need.keys()].filter((block) => need[block] !== NEVER)).toEqual([0, 1, 2, 3, 4, 5, 6])
  })

  it(`picks from the newest ${TYPICAL_SAMPLE} traces, reading each twice`, async () => {
    const many = Array.from({ length: TYPICAL_SAMPLE + 6 }, (_, i) => (i < 6 ? c : a))
    const stats = statsOf(model, many)
    const source = countingSource(many)
    await typicalNeed(model, stats, source, 0.5)
    expect(source.loads).toEqual(many.map((_, i) => (i < 6 ? 0 : 2)))
  })

  it('breaks ties in typicality towards the older trace', async () => {
    // Both read one block nobody else reads: equally typical; the older one is chosen.
    const older = trace([[3, 7]])
    const newer = trace([[4, 2]])
    const stats = statsOf(model, [older, newer])
    const need = await typicalNeed(model, stats, memorySource([older, newer]), 0.5)
    expect([need[3], need[4]]).toEqual([7, NEVER])
  })

  it('refuses a share outside (0, 1] and need times of another build', async () => {
    const stats = statsOf(model, training)
    for (const share of [0, -0.5, 1.5, Number.NaN]) {
      await expect(typicalNeed(model, stats, memorySource(training), share)).rejects.toThrow(
        RangeError,
      )
    }
    const order = orderFromStats(model, stats, { untraced: 'last' })
    expect(() => withTypicalHead(order, new Uint32Array(3), stats)).toThrow(RangeError)
  })

  it('always gives a permutation of the build, whatever the traces (property)', async () => {
    const rng = seededRng(11)
    for (let round = 0; round < 40; round++) {
      const random = randomModel(rng, 1024)
      const traces = Array.from({ length: randomInt(rng, 1, 12) }, () => {
        const pairs: Array<[number, number]> = []
        const reads = randomInt(rng, 0, Math.min(20, random.blockCount))
        for (let i = 0; i < reads; i++) {
          pairs.push([randomInt(rng, 0, random.blockCount - 1), randomInt(rng, 0, 5000)])
        }
        // First accesses: each block once, at its earliest time.
        const first = new Map<number, number>()
        for (const [block, t] of pairs) first.set(block, Math.min(t, first.get(block) ?? t))
        return trace([...first])
      })
      const share = [0.25, 0.5, 1][randomInt(rng, 0, 2)]
      for (const untraced of ['first', 'last'] as const) {
        const order = await statsOrderBuilder(random, {
          untraced,
          needShare: 0.1,
          typicalShare: share,
        })(memorySource(traces))
        assertPermutation(order, random.blockCount)
      }
    }
  })
})
