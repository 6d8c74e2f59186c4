import { describe, expect, it } from 'vitest'
import { packHashes } from '../../src/engine/block-hash'
import {
  addTrace,
  coverage,
  decodeStats,
  emptyStats,
  emptyStatsIn,
  encodedInPlace,
  encodedStatsBytes,
  encodeStats,
  NEVER,
  STATS_HEADER_BYTES,
  statsLayout,
} from '../../src/engine/block-stats'
import { type BuildModel, buildModel } from '../../src/engine/build-model'
import { regionLayout } from '../../src/engine/regions'
import {
  InheritanceMatcher,
  inheritanceSources,
  inheritEncodedStats,
  inheritStats,
  inheritStatsFrom,
} from '../../src/engine/stats-inherit'
import { serialiseTrace } from '../../src/engine/trace-codec'
import { parseTrace } from '../../src/engine/trace-parse'
import type { FirstAccess, TraceRead } from '../../src/engine/trace-types'
import { filesFor, header, randomInt, randomModel, randomReads, seededRng } from './engine-fixtures'

const KIB = 1024

function trace(pairs: Array<[block: number, tMs: number]>): FirstAccess {
  const sorted = [...pairs].sort((a, b) => a[1] - b[1] || a[0] - b[0])
  return {
    blocks: Uint32Array.from(sorted.map(([block]) => block)),
    tMs: Uint32Array.from(sorted.map(([, t]) => t)),
  }
}

async function parsed(model: BuildModel, reads: TraceRead[]) {
  const text = serialiseTrace(header('s'), reads)
  return (await parseTrace(new TextEncoder().encode(text), { model })).firstAccess
}

describe('block statistics', () => {
  it('encode and decode to the same statistics', async () => {
    const rng = seededRng(9)
    for (let round = 0; round < 20; round++) {
      const model = randomModel(rng)
      const stats = emptyStats(model)
      for (let i = 0; i < 5; i++) {
        addTrace(
          stats,
          model,
          await parsed(model, randomReads(rng, model, 20)),
          randomInt(rng, 0, 1e7),
        )
      }
      const copy = decodeStats(encodeStats(stats))
      expect(copy).toEqual(stats)
      // Decoding from an unaligned view of a bigger buffer works too.
      const encoded = encodeStats(stats)
      const shifted = new Uint8Array(encoded.length + 3)
      shifted.set(encoded, 3)
      expect(decodeStats(shifted.subarray(3))).toEqual(stats)

      // Decoded statistics live in the blob's memory and keep taking traces.
      const blob = encodeStats(stats)
      const shared = decodeStats(blob)
      const more = await parsed(model, randomReads(rng, model, 5))
      addTrace(shared, model, more, 1)
      addTrace(stats, model, more, 1)
      expect(decodeStats(encodeStats(shared))).toEqual(stats)
      expect(decodeStats(blob).count).toEqual(stats.count)
    }
    expect(() => decodeStats(new Uint8Array(64))).toThrow(/magic/)
  })

  it('counts traces and times per block, halving bins that fill up', () => {
    const model = buildModel(KIB, filesFor(KIB, [['a', 2 * KIB]]))
    const stats = emptyStats(model)
    for (let s = 0; s < 600; s++) addTrace(stats, model, trace([[0, s % 3 === 0 ? 200 : 1500]]), 10)
    expect(stats.count[0]).toBe(600)
    expect(stats.count[1]).toBe(0)
    expect(stats.earliestMs[0]).toBe(200)
    expect(stats.latestMs[0]).toBe(1500)
    expect(stats.earliestMs[1]).toBe(NEVER)
    expect(stats.nTraces).toBe(600)
    expect(stats.traceTimeMs).toBe(6000)
    const bins = stats.timeBins.subarray(0, 12)
    expect(Math.max(...bins)).toBeLessThanOrEqual(255)
    expect(bins[1] / bins[0]).toBeCloseTo(2, 1) // 400 at 1.5 s against 200 under 1 s
  })

  it('coverage is the share of build bytes in touched blocks', () => {
    const model = buildModel(
      KIB,
      filesFor(KIB, [
        ['a', 2500],
        ['b', 500],
      ]),
    )
    const stats = emptyStats(model)
    expect(coverage(model, stats)).toBe(0)
    addTrace(
      stats,
      model,
      trace([
        [2, 0],
        [3, 5],
      ]),
      1,
    )
    expect(coverage(model, stats)).toBeCloseTo((452 + 500) / 3000, 10)
    addTrace(
      stats,
      model,
      trace([
        [0, 0],
        [1, 0],
      ]),
      1,
    )
    expect(coverage(model, stats)).toBe(1)
  })

  it('a new build inherits by hash, then by path and offset', () => {
    const hex = (n: number) => n.toString(16).padStart(32, '0')
    const oldModel = buildModel(
      KIB,
      filesFor(KIB, [
        ['a', 2 * KIB],
        ['b', 2 * KIB],
      ]),
    )
    const oldStats = emptyStats(oldModel)
    addTrace(
      oldStats,
      oldModel,
      trace([
        [0, 10],
        [1, 20],
        [2, 30],
        [3, 40],
      ]),
      100,
    )
    addTrace(oldStats, oldModel, trace([[3, 50]]), 100)
    // New build: 'b' moved first; a.bin block 1 changed; 'n' is new with block 0's content.
    const newModel = buildModel(
      KIB,
      filesFor(KIB, [
        ['b', 2 * KIB],
        ['a', 2 * KIB],
        ['n', KIB],
      ]),
    )
    const stats = inheritStats(oldModel, [hex(1), hex(2), hex(3), hex(4)], oldStats, newModel, [
      hex(3),
      hex(4),
      hex(1),
      hex(99),
      hex(1),
    ])
    expect([...stats.count]).toEqual([1, 2, 1, 1, 1])
    expect([...stats.earliestMs]).toEqual([30, 40, 10, 20, 10])
    expect(stats.nTraces).toBe(2)
    expect(stats.traceTimeMs).toBe(200)
    // Packed hashes give the same result.
    const pack = (hashes: string[]) =>
      Uint8Array.from(hashes.flatMap((h) => h.match(/../g)!.map((b) => Number.parseInt(b, 16))))
    const packedStats = inheritStats(
      oldModel,
      pack([hex(1), hex(2), hex(3), hex(4)]),
      oldStats,
      newModel,
      pack([hex(3), hex(4), hex(1), hex(99), hex(1)]),
    )
    expect(packedStats).toEqual(stats)
    const unmatched = inheritStats(
      oldModel,
      [hex(1), hex(2), hex(3), hex(4)],
      oldStats,
      buildModel(KIB, filesFor(KIB, [['z', KIB]])),
      [hex(7)],
    )
    expect(unmatched.count[0]).toBe(0)
    expect(unmatched.earliestMs[0]).toBe(NEVER)
  })
})

describe('inheritance in two phases', () => {
  it('matches the same blocks whatever the chunks the new hashes arrive in', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const rng = seededRng(seed)
      const oldModel = randomModel(rng)
      // The new build: the old files, some renamed, plus a new one.
      const files = oldModel.files.map((file, i) => [
        i % 3 === 0 ? `moved/${file.path}` : file.path,
        file.size,
      ]) as Array<[string, number]>
      files.push(['extra.bin', randomInt(rng, 0, 5000)])
      const newModel = buildModel(oldModel.blockSize, filesFor(oldModel.blockSize, files))
      const content = () => randomInt(rng, 0, 40).toString(16).padStart(32, '0')
      const oldHashes = packHashes(Array.from({ length: oldModel.blockCount }, content))
      const newHashes = packHashes(Array.from({ length: newModel.blockCount }, content))
      const sources = inheritanceSources(oldModel, oldHashes, newModel, newHashes)

      const matcher = new InheritanceMatcher(oldModel, oldHashes, newModel)
      for (let at = 0; at < newHashes.length; ) {
        const length = randomInt(rng, 0, 40)
        matcher.push(newHashes.slice(at, at + length))
        at += length
      }
      expect(matcher.finish(), `seed ${seed}`).toEqual(sources)

      // Each source has the same content, or else the same path and offset.
      sources.forEach((from, block) => {
        if (from === -1) return
        const same = oldHashes
          .subarray(from * 16, from * 16 + 16)
          .every((byte, i) => byte === newHashes[block * 16 + i])
        const file = newModel.files.find((f) => block < f.firstBlock + f.blockCount)!
        const old = oldModel.files.find((f) => f.path === file.path)
        const samePlace = old !== undefined && old.firstBlock + block - file.firstBlock === from
        expect(same || samePlace, `seed ${seed}, block ${block}`).toBe(true)
      })

      const stats = emptyStats(oldModel)
      addTrace(
        stats,
        oldModel,
        trace([[0, 5]].filter(() => oldModel.blockCount > 0) as Array<[number, number]>),
        10,
      )
      expect(inheritStatsFrom(oldModel, stats, newModel, sources)).toEqual(
        inheritStats(oldModel, oldHashes, stats, newModel, newHashes),
      )
    }
  })

  it('refuses hashes that do not cover the new build', () => {
    const model = buildModel(KIB, filesFor(KIB, [['a', 2 * KIB]]))
    const hashes = packHashes(['1'.repeat(32), '2'.repeat(32)])
    const matcher = new InheritanceMatcher(model, hashes, model)
    matcher.push(hashes.subarray(0, 20))
    expect(() => matcher.finish()).toThrow(RangeError)
    matcher.push(hashes.subarray(20))
    expect([...matcher.finish()]).toEqual([0, 1])
    expect(() => matcher.push(hashes.subarray(0, 16))).toThrow(RangeError)
    expect(() => inheritanceSources(model, hashes, model, hashes.subarray(16))).toThrow(RangeError)
  })
})

/** Statistics of `model` after `traces` random traces. */
async function trained(rng: () => number, model: BuildModel, traces: number) {
  const stats = emptyStats(model)
  for (let i = 0; i < traces; i++) {
    const reads = randomReads(rng, model, 30)
    addTrace(stats, model, await parsed(model, reads), randomInt(rng, 0, 1e6))
  }
  return stats
}

describe('statistics in their encoded form', () => {
  it('are built, changed and stored in place, as encodeStats would write them', async () => {
    const rng = seededRng(21)
    for (let round = 0; round < 15; round++) {
      const model = randomModel(rng)
      const size = encodedStatsBytes(model.blockCount, regionLayout(model).regionCount)
      // Room to spare, holding rubbish from an earlier use.
      const bytes = new Uint8Array(size + 4 * randomInt(rng, 0, 10)).fill(0xa5)
      const inPlace = emptyStatsIn(bytes, model)
      expect(inPlace).toEqual(emptyStats(model))
      const reference = emptyStats(model)
      for (let i = 0; i < 4; i++) {
        const trace = await parsed(model, randomReads(rng, model, 20))
        const durationMs = randomInt(rng, 0, 1e6)
        addTrace(inPlace, model, trace, durationMs)
        addTrace(reference, model, trace, durationMs)
      }
      const stored = encodedInPlace(inPlace)
      expect(stored?.buffer).toBe(bytes.buffer)
      expect(stored).toEqual(encodeStats(reference))
      const layout = statsLayout(stored!.subarray(0, STATS_HEADER_BYTES))
      expect(layout).toMatchObject({
        blockCount: model.blockCount,
        nTraces: 4,
        traceTimeMs: reference.traceTimeMs,
        totalBytes: size,
      })
      expect(stored![layout.timeBins]).toBe(reference.timeBins[0])

      // Decoded from an aligned blob they are in place too; separate arrays are not.
      const blob = encodeStats(reference)
      const decoded = decodeStats(blob)
      addTrace(decoded, model, await parsed(model, randomReads(rng, model, 5)), 7)
      expect(encodedInPlace(decoded)?.buffer).toBe(blob.buffer)
      expect(decodeStats(blob.slice())).toEqual(decoded)
      expect(encodedInPlace(reference)).toBeNull()
    }
  })

  it('refuses room that is too small or unaligned, and blobs that are not statistics', () => {
    const model = buildModel(KIB, filesFor(KIB, [['a', 3 * KIB]]))
    const size = encodedStatsBytes(3, regionLayout(model).regionCount)
    expect(() => emptyStatsIn(new Uint8Array(size - 1), model)).toThrow(RangeError)
    expect(() => emptyStatsIn(new Uint8Array(size + 4).subarray(2), model)).toThrow(RangeError)
    expect(() => statsLayout(new Uint8Array(STATS_HEADER_BYTES))).toThrow(/magic/)
    expect(() => statsLayout(new Uint8Array(8))).toThrow(/too short/)
  })
})

describe('inheritance from statistics read a slice at a time', () => {
  it('gives what inheritStatsFrom gives, whatever the slices and the room', async () => {
    for (let seed = 1; seed <= 25; seed++) {
      const rng = seededRng(100 + seed)
      const oldModel = randomModel(rng)
      const files = oldModel.files.map((file, i) => [
        i % 4 === 1 ? `moved/${file.path}` : file.path,
        file.size,
      ]) as Array<[string, number]>
      files.push(['extra.bin', randomInt(rng, 0, 5000)])
      const newModel = buildModel(oldModel.blockSize, filesFor(oldModel.blockSize, files))
      const content = () => randomInt(rng, 0, 60).toString(16).padStart(32, '0')
      const oldHashes = packHashes(Array.from({ length: oldModel.blockCount }, content))
      const newHashes = packHashes(Array.from({ length: newModel.blockCount }, content))
      const sources = inheritanceSources(oldModel, oldHashes, newModel, newHashes)
      const oldStats = await trained(rng, oldModel, randomInt(rng, 1, 6))
      const expected = inheritStatsFrom(oldModel, oldStats, newModel, sources)

      // Reads land at unaligned offsets of a bigger buffer, as a slice of a body may.
      const blob = encodeStats(oldStats)
      const reads: Array<[number, number]> = []
      const readOld = async (offset: number, length: number) => {
        reads.push([offset, length])
        const copy = new Uint8Array(length + 1)
        copy.set(blob.subarray(offset, offset + length), 1)
        return copy.subarray(1)
      }
      const sliceBlocks = randomInt(rng, 1, 12)
      const size = encodedStatsBytes(newModel.blockCount, regionLayout(newModel).regionCount)
      const into = new Uint8Array(size + randomInt(rng, 0, 2) * 4).fill(7)
      const stats = await inheritEncodedStats(oldModel, readOld, newModel, sources, {
        into,
        sliceBlocks,
      })
      expect(stats, `seed ${seed}`).toEqual(expected)
      expect(encodedInPlace(stats)).toEqual(encodeStats(expected))
      expect(stats.count.buffer).toBe(into.buffer)
      // Besides the header and the region section, no read is longer than a slice of bins.
      const bound = Math.max(STATS_HEADER_BYTES, 12 * sliceBlocks, 48 * oldStats.regionCount)
      expect(reads.filter(([, length]) => length > bound)).toEqual([])
      if (blob.length > bound) expect(reads.length).toBeGreaterThan(1)

      // Too little room: the statistics get their own bytes, and come out the same.
      const fresh = await inheritEncodedStats(oldModel, readOld, newModel, sources, {
        into: new Uint8Array(size - 1),
      })
      expect(fresh).toEqual(expected)
    }
  })

  it('refuses statistics of another build and reads that come up short', async () => {
    const model = buildModel(KIB, filesFor(KIB, [['a', 3 * KIB]]))
    const other = buildModel(KIB, filesFor(KIB, [['a', 2 * KIB]]))
    const blob = encodeStats(emptyStats(model))
    const readOld = async (offset: number, length: number) => blob.slice(offset, offset + length)
    const sources = Int32Array.from([0, 1, 2])
    await expect(inheritEncodedStats(other, readOld, model, sources)).rejects.toThrow(
      /another build/,
    )
    await expect(inheritEncodedStats(model, readOld, model, sources.subarray(1))).rejects.toThrow(
      RangeError,
    )
    const short = async (offset: number, length: number) =>
      blob.slice(offset, offset + Math.max(STATS_HEADER_BYTES, length - 1))
    await expect(inheritEncodedStats(model, short, model, sources)).rejects.toThrow(/bytes at/)
    await expect(
      inheritEncodedStats(model, readOld, model, Int32Array.from([0, 1, 3])),
    ).rejects.toThrow(/no block 3/)
  })
})
