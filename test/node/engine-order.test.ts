import { describe, expect, it } from 'vitest'
import { addTrace, emptyStats } from '../../src/engine/block-stats'
import { NO_CHANCE, worthClasses } from '../../src/engine/block-worth'
import { buildModel } from '../../src/engine/build-model'
import { crossValidate, statsOrderBuilder } from '../../src/engine/cross-validate'
import { assertPermutation } from '../../src/engine/image-layout'
import { sortByKey } from '../../src/engine/key-sort'
import { needKeys } from '../../src/engine/need-keys'
import {
  fileLevelOrder,
  idealOrder,
  nativeOrder,
  ORDER_METHODS,
  orderFromStats,
} from '../../src/engine/order'
import { serialiseTrace } from '../../src/engine/trace-codec'
import { parseTrace } from '../../src/engine/trace-parse'
import { memorySource } from '../../src/engine/trace-source'
import type { FirstAccess, TraceRead } from '../../src/engine/trace-types'
import {
  databaseModel,
  databaseSessions,
  filesFor,
  type GameShape,
  gameModel,
  gameSessions,
  header,
  randomInt,
  randomModel,
  randomReads,
  seededRng,
} from './engine-fixtures'

const KIB = 1024

function trace(pairs: Array<[block: number, tMs: number]>): FirstAccess {
  const sorted = [...pairs].sort((a, b) => a[1] - b[1] || a[0] - b[0])
  return {
    blocks: Uint32Array.from(sorted.map(([block]) => block)),
    tMs: Uint32Array.from(sorted.map(([, t]) => t)),
  }
}

async function parsed(model: ReturnType<typeof buildModel>, reads: TraceRead[]) {
  const text = serialiseTrace(header('s'), reads)
  return (await parseTrace(new TextEncoder().encode(text), { model })).firstAccess
}

describe('sortByKey', () => {
  it('sorts stably by 32-bit keys', () => {
    const rng = seededRng(3)
    for (let round = 0; round < 50; round++) {
      const keys = Uint32Array.from({ length: randomInt(rng, 0, 300) }, () =>
        rng() < 0.5 ? randomInt(rng, 0, 5) : Math.floor(rng() * 2 ** 32),
      )
      const expected = [...keys.keys()].sort((a, b) => keys[a] - keys[b] || a - b)
      expect([...sortByKey(keys)]).toEqual(expected)
      const ties = Uint16Array.from(keys, () => (rng() < 0.5 ? randomInt(rng, 0, 3) : 0xffff))
      const byTies = [...keys.keys()].sort(
        (a, b) => keys[a] - keys[b] || ties[a] - ties[b] || a - b,
      )
      expect([...sortByKey(keys, ties)]).toEqual(byTies)
    }
  })
})

describe('every order is a permutation of the build blocks', () => {
  it('holds for random builds and traces', async () => {
    const rng = seededRng(11)
    for (let round = 0; round < 60; round++) {
      const model = randomModel(rng)
      const traces: FirstAccess[] = []
      for (let i = 0; i < randomInt(rng, 0, 6); i++) {
        traces.push(await parsed(model, randomReads(rng, model, randomInt(rng, 0, 30))))
      }
      const stats = emptyStats(model)
      for (const t of traces) addTrace(stats, model, t, 1000)
      const orders = [
        nativeOrder(model),
        fileLevelOrder(model, traces),
        orderFromStats(model, stats, { untraced: 'first' }),
        orderFromStats(model, stats, { untraced: 'last' }),
        ...traces.map((t) => idealOrder(model, t)),
      ]
      for (const order of orders)
        expect(() => assertPermutation(order, model.blockCount)).not.toThrow()
    }
  })
})

describe('orderFromStats', () => {
  // Four files of 4 blocks each (1 KiB blocks): blocks 0-3, 4-7, 8-11, 12-15.
  const model = buildModel(
    KIB,
    filesFor(KIB, [
      ['a', 4 * KIB],
      ['b', 4 * KIB],
      ['c', 4 * KIB],
      ['d', 4 * KIB],
    ]),
  )

  it('puts what sessions need first at the front, sequential runs kept in order', () => {
    const stats = emptyStats(model)
    for (let s = 0; s < 10; s++) {
      addTrace(
        stats,
        model,
        trace([
          [8, 100 + s],
          [9, 100 + s],
          [10, 100 + s],
          [11, 100 + s],
          [2, 5000 + s],
          [5, 9000],
        ]),
        60_000,
      )
    }
    const order = orderFromStats(model, stats, { untraced: 'last' })
    expect([...order.slice(0, 6)]).toEqual([8, 9, 10, 11, 2, 5])
    // Untouched blocks follow in tar order (the files holding touched ones first, by region).
    expect(new Set(order.slice(6))).toEqual(new Set([0, 1, 3, 4, 6, 7, 12, 13, 14, 15]))
  })

  it('does not let a few fast sessions pull a block forward', () => {
    const stats = emptyStats(model)
    // Block 4 is needed at 30 s by 19 sessions and at 0.5 s by one; block 12 at 10 s by all.
    for (let s = 0; s < 20; s++) {
      addTrace(
        stats,
        model,
        trace([
          [4, s === 0 ? 500 : 30_000 + s],
          [12, 10_000 + s],
        ]),
        60_000,
      )
    }
    const order = [...orderFromStats(model, stats, { untraced: 'last' })]
    expect(order.indexOf(12)).toBeLessThan(order.indexOf(4))
  })

  it('with needShare 0 times a block by its first readers, as the second method does', () => {
    const stats = emptyStats(model)
    // Block 4 is read at 0.5 s by one session of 20; block 12 at 10 s by all of them.
    for (let s = 0; s < 20; s++) {
      const reads: Array<[number, number]> = [[12, 10_000 + s]]
      if (s === 0) reads.push([4, 500])
      addTrace(stats, model, trace(reads), 60_000)
    }
    const tenth = ORDER_METHODS.find((method) => method.name === 'tenth')!
    const first = ORDER_METHODS.find((method) => method.name === 'first')!
    expect(ORDER_METHODS[0]).toBe(tenth)
    const byTenth = [...orderFromStats(model, stats, { untraced: 'last', ...tenth })]
    const byFirst = [...orderFromStats(model, stats, { untraced: 'last', ...first })]
    expect(byTenth.indexOf(12)).toBeLessThan(byTenth.indexOf(4))
    expect(byFirst.indexOf(4)).toBeLessThan(byFirst.indexOf(12))
    expect([...orderFromStats(model, stats, { untraced: 'last' })]).toEqual(byTenth)
  })

  it('puts untraced blocks first or last as asked', () => {
    const stats = emptyStats(model)
    addTrace(
      stats,
      model,
      trace([
        [13, 0],
        [6, 10],
      ]),
      1000,
    )
    addTrace(stats, model, trace([[6, 5]]), 1000)
    const first = [...orderFromStats(model, stats, { untraced: 'first' })]
    expect(first.slice(-2)).toEqual([13, 6])
    expect(first.slice(0, 14)).toEqual([0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 14, 15])
    const last = [...orderFromStats(model, stats, { untraced: 'last' })]
    expect(last.slice(0, 2)).toEqual([13, 6])
  })

  it('keeps a big archive read at scattered places together, ahead of untouched files', () => {
    // 'pak' is 64 blocks; every session reads 3 random blocks of it early, 'other' is never read.
    const m = buildModel(
      KIB,
      filesFor(KIB, [
        ['other', 64 * KIB],
        ['pak', 64 * KIB],
        ['exe', 2 * KIB],
      ]),
    )
    const rng = seededRng(5)
    const stats = emptyStats(m)
    for (let s = 0; s < 40; s++) {
      const pairs: Array<[number, number]> = [
        [128, 0],
        [129, 1],
      ]
      for (let i = 0; i < 3; i++)
        pairs.push([64 + randomInt(rng, 0, 63), 1000 + randomInt(rng, 0, 9000)])
      addTrace(
        stats,
        m,
        trace(pairs.filter((p, i) => pairs.findIndex((q) => q[0] === p[0]) === i)),
        60_000,
      )
    }
    const order = [...orderFromStats(m, stats, { untraced: 'last' })]
    expect(order.slice(0, 2)).toEqual([128, 129])
    // All of the archive, traced or not, comes before the untouched file.
    expect(new Set(order.slice(2, 66))).toEqual(
      new Set(Array.from({ length: 64 }, (_, i) => 64 + i)),
    )
    const { keys } = needKeys(m, stats)
    expect(keys[0]).toBe(0xffffffff)
  })
})

describe('reference orders', () => {
  const model = buildModel(
    KIB,
    filesFor(KIB, [
      ['a', 2 * KIB],
      ['b', 3 * KIB],
      ['c', KIB],
    ]),
  )

  it('file-level: whole files by earliest first access, then untouched files', () => {
    const order = fileLevelOrder(model, [
      trace([[3, 50]]),
      trace([
        [1, 70],
        [4, 20],
      ]),
    ])
    expect([...order]).toEqual([2, 3, 4, 0, 1, 5])
  })

  it('ideal: the trace own first accesses, then the rest in tar order', () => {
    expect([
      ...idealOrder(
        model,
        trace([
          [4, 1],
          [0, 2],
        ]),
      ),
    ]).toEqual([4, 0, 1, 2, 3, 5])
  })
})

describe('ordering quality on game-like sessions', () => {
  const shape: GameShape = {
    blockSize: 64 * KIB,
    levels: 8,
    levelMiB: 64,
    startupMiB: 256,
    commonMiB: 512,
    unusedMiB: 1024,
  }

  it.each([1, 2, 3])('beats native and file-level orders at the median (seed %i)', async (seed) => {
    const model = gameModel(shape)
    const sessions = gameSessions(seededRng(seed), model, shape, {
      sessions: 60,
      speedrunners: 0.05,
      scatteredReads: 100,
    })
    const traces: FirstAccess[] = []
    for (const session of sessions) traces.push(await parsed(model, session.reads))

    const report = await crossValidate(
      model,
      memorySource(traces),
      5,
      statsOrderBuilder(model, { untraced: 'last' }),
    )
    const median = (name: string, mbit: number) =>
      report.rows.find((row) => row.name === name)!.bandwidths.find((b) => b.mbit === mbit)!.median
        .bytes
    expect(report.traces).toBe(60)
    for (const mbit of [100, 1000]) {
      expect(median('image', mbit)).toBeLessThan(median('file-level', mbit))
      expect(median('image', mbit)).toBeLessThan(median('native', mbit) / 2)
      expect(median('image', mbit)).toBeGreaterThanOrEqual(median('ideal', mbit))
    }
  })
})

describe('orderFromStats on short sessions reading scattered pages of one big file', () => {
  // 16 KiB blocks: 'exe' (blocks 0-1), 'db' (256 blocks from block 2), 'other' never read.
  // In 'db': a start-up part every session reads, a table one session scans, and an index
  // each session looks a leaf up in (leaves 0-11 read by one or two sessions, 12-19 unread).
  const block = 16 * KIB
  const m = buildModel(
    block,
    filesFor(block, [
      ['exe', 2 * block],
      ['db', 256 * block],
      ['other', 16 * block],
    ]),
  )
  const db = (index: number) => 2 + index
  const stats = emptyStats(m)
  for (let s = 0; s < 20; s++) {
    const pairs: Array<[number, number]> = [
      [0, 0],
      [1, 0],
      [db(0), 1],
      [db(1), 1],
      [db(2), 1],
      [db(3), 1],
      [db(128 + ((s * 5) % 12)), 5],
    ]
    if (s === 7) for (let i = 16; i < 48; i++) pairs.push([db(i), 3])
    addTrace(stats, m, trace(pairs), 20)
  }

  it('rates unread blocks by how often single sessions read near them', () => {
    const worth = worthClasses(m, stats)
    expect(worth[db(129)]).toBeLessThan(worth[db(141)]) // read by two sessions < unread leaf
    expect(worth[db(141)]).toBeLessThan(worth[db(30)]) // unread leaf < part of a one-off scan
    expect(worth[db(30)]).toBeLessThan(worth[db(100)]) // scan < unread, far from the index
    expect(worth[db(100)]).toBeLessThan(NO_CHANCE)
    expect(worth[db(230)]).toBe(NO_CHANCE) // nothing read within 1 MiB
    expect(worth[m.blockCount - 1]).toBe(NO_CHANCE)
  })

  it('puts the whole index before a rare scan, and both before data nobody comes near', () => {
    const order = [...orderFromStats(m, stats, { untraced: 'last' })]
    const slot = (b: number) => order.indexOf(b)
    const range = (from: number, to: number) =>
      Array.from({ length: to - from }, (_, i) => from + i)
    expect(new Set(order.slice(0, 6))).toEqual(new Set([0, 1, db(0), db(1), db(2), db(3)]))
    const index = range(db(128), db(148))
    const scan = range(db(16), db(48))
    const far = range(db(208), db(256))
    expect(Math.max(...index.map(slot))).toBeLessThan(Math.min(...scan.map(slot)))
    expect(Math.max(...scan.map(slot))).toBeLessThan(Math.min(...far.map(slot)))
    // Untouched files still come last, in tar order.
    expect(order.slice(-16)).toEqual(range(db(256), db(272)))
  })

  it.each([1, 2, 3])('needs well under the file-level preload (seed %i)', async (seed) => {
    const shape = databaseModel()
    const traces: FirstAccess[] = []
    for (const session of databaseSessions(seededRng(seed), shape, 48)) {
      traces.push(await parsed(shape.model, session.reads))
    }
    const report = await crossValidate(
      shape.model,
      memorySource(traces),
      5,
      statsOrderBuilder(shape.model, { untraced: 'last' }),
    )
    const median = (name: string, mbit: number) =>
      report.rows.find((row) => row.name === name)!.bandwidths.find((b) => b.mbit === mbit)!.median
        .bytes
    for (const mbit of [25, 100, 1000]) {
      // Every session needs the pages it reads at once; most read one no other session read.
      expect(median('image', mbit)).toBeLessThan(0.8 * median('file-level', mbit))
      expect(median('image', mbit)).toBeLessThan(0.8 * median('native', mbit))
      expect(median('image', mbit)).toBeGreaterThanOrEqual(median('ideal', mbit))
    }
  })
})
