import { describe, expect, it } from 'vitest'
import { addTrace, emptyStats } from '../../src/engine/block-stats'
import { type BuildModel, blockLengths, buildModel } from '../../src/engine/build-model'
import { crossValidate, statsOrderBuilder } from '../../src/engine/cross-validate'
import { evaluateOrders, quantile, REPORT_MBITS } from '../../src/engine/evaluate'
import { blockEnds } from '../../src/engine/image-layout'
import { fileLevelOrder, idealOrder, nativeOrder, orderFromStats } from '../../src/engine/order'
import {
  BYTES_PER_MBIT,
  idealPreload,
  nativePreload,
  preloadBytes,
  preloadFromEnds,
} from '../../src/engine/preload'
import { loadProfile, PROFILE_FORMAT, profilePreload } from '../../src/engine/profile'
import { serialiseTrace } from '../../src/engine/trace-codec'
import { parseTrace } from '../../src/engine/trace-parse'
import { memorySource, type TraceSource } from '../../src/engine/trace-source'
import type { FirstAccess } from '../../src/engine/trace-types'
import {
  filesFor,
  header,
  type Rng,
  randomInt,
  randomModel,
  randomReads,
  seededRng,
} from './engine-fixtures'

async function randomTrace(rng: Rng, model: BuildModel): Promise<FirstAccess> {
  const text = serialiseTrace(header('p'), randomReads(rng, model, randomInt(rng, 1, 40)))
  return (await parseTrace(new TextEncoder().encode(text), { model })).firstAccess
}

function shuffled(rng: Rng, count: number): Uint32Array {
  const order = Uint32Array.from({ length: count }, (_, i) => i)
  for (let i = count - 1; i > 0; i--) {
    const j = randomInt(rng, 0, i)
    ;[order[i], order[j]] = [order[j], order[i]]
  }
  return order
}

function trace(pairs: Array<[block: number, tMs: number]>): FirstAccess {
  return {
    blocks: Uint32Array.from(pairs.map(([block]) => block)),
    tMs: Uint32Array.from(pairs.map(([, t]) => t)),
  }
}

// Three files, 1000-byte blocks: a = blocks 0-1 (2000 B), b = block 2 (500 B), c = 3-4 (1500 B).
const model = buildModel(
  1000,
  filesFor(1000, [
    ['a', 2000],
    ['b', 500],
    ['c', 1500],
  ]),
)

describe('preloadBytes', () => {
  it('is the largest shortfall of the image reach against the download', () => {
    const order = Uint32Array.of(4, 0, 1, 2, 3) // ends: 4 -> 500, 0 -> 1500, 1 -> 2500, 2 -> 3000, 3 -> 4000
    // Block 4 at once: 500 bytes. Block 3 at 2 s: 4000 - 2 * 1000 = 2000. Block 1 at 2.5 s: no more.
    const accesses = trace([
      [4, 0],
      [3, 2000],
      [1, 2500],
    ])
    expect(preloadBytes(model, order, accesses, 1000)).toBe(2000)
    expect(preloadBytes(model, order, accesses, 1500)).toBe(1000)
    expect(preloadBytes(model, order, accesses, 10_000)).toBe(500)
    expect(preloadBytes(model, order, trace([]), 1000)).toBe(0)
  })

  it('on the native image equals the native block ends', async () => {
    const rng = seededRng(21)
    for (let round = 0; round < 40; round++) {
      const m = randomModel(rng)
      const t = await randomTrace(rng, m)
      const bandwidths = [1, 1000, 1e6]
      expect(nativePreload(m, t, bandwidths)).toEqual(
        preloadFromEnds(blockEnds(m, nativeOrder(m)), t, bandwidths),
      )
    }
  })
})

describe('properties of P*', () => {
  it('no order beats a trace own ideal order on that trace', async () => {
    const rng = seededRng(1234)
    for (let round = 0; round < 200; round++) {
      const m = randomModel(rng, randomInt(rng, 1, 4) * 256)
      const own = await randomTrace(rng, m)
      const others = [await randomTrace(rng, m), await randomTrace(rng, m)]
      const stats = emptyStats(m)
      for (const t of [own, ...others]) addTrace(stats, m, t, 1)
      const bandwidth = rng() * 5000 + 1
      const ideal = idealPreload(blockLengths(m), own, [bandwidth])[0]
      expect(preloadBytes(m, idealOrder(m, own), own, bandwidth)).toBeCloseTo(ideal, 6)
      const candidates = [
        nativeOrder(m),
        shuffled(rng, m.blockCount),
        fileLevelOrder(m, [own, ...others]),
        orderFromStats(m, stats, { untraced: 'last' }),
        orderFromStats(m, stats, { untraced: 'first' }),
        idealOrder(m, others[0]),
      ]
      for (const order of candidates) {
        expect(preloadBytes(m, order, own, bandwidth), `round ${round}`).toBeGreaterThanOrEqual(
          ideal - 1e-6,
        )
      }
    }
  })

  it('never grows as bandwidth grows, and stays between 0 and the image size', async () => {
    const rng = seededRng(77)
    for (let round = 0; round < 200; round++) {
      const m = randomModel(rng)
      const t = await randomTrace(rng, m)
      const order = shuffled(rng, m.blockCount)
      const bandwidths = Array.from({ length: 8 }, () => rng() * 10 ** randomInt(rng, 0, 6)).sort(
        (a, b) => a - b,
      )
      const preload = preloadFromEnds(blockEnds(m, order), t, bandwidths)
      const size = blockLengths(m).reduce((sum, length) => sum + length, 0)
      for (let b = 0; b < bandwidths.length; b++) {
        expect(preload[b]).toBeGreaterThanOrEqual(0)
        expect(preload[b]).toBeLessThanOrEqual(size)
        if (b > 0) expect(preload[b]).toBeLessThanOrEqual(preload[b - 1])
      }
    }
  })
})

describe('evaluateOrders', () => {
  it('reports the named rows at 25, 100 and 1000 Mbit/s', async () => {
    const traces = [
      trace([[4, 0]]),
      trace([
        [0, 0],
        [2, 1],
      ]),
      trace([[3, 0]]),
    ]
    const order = Uint32Array.of(4, 3, 0, 1, 2)
    const report = await evaluateOrders(
      model,
      { image: order, 'file-level': fileLevelOrder(model, traces) },
      memorySource(traces),
    )
    expect(report.rows.map((row) => row.name)).toEqual([
      'full download',
      'native',
      'file-level',
      'image',
      'ideal',
    ])
    expect(report.traces).toBe(3)
    expect(report.imageBytes).toBe(4000)
    expect(report.rows[0].bandwidths.map((b) => b.mbit)).toEqual([...REPORT_MBITS])

    const at = (name: string, mbit: number) =>
      report.rows.find((row) => row.name === name)!.bandwidths.find((b) => b.mbit === mbit)!
    expect(at('full download', 25).median).toEqual({
      bytes: 4000,
      fraction: 1,
      seconds: 4000 / (25 * BYTES_PER_MBIT),
    })
    // Image ends: 4 -> 500, 3 -> 1500, 0 -> 2500, 2 -> 4000: P* 500, 4000 - B * 0.001 (about), 1500.
    const image = at('image', 100)
    const second = 4000 - 100 * BYTES_PER_MBIT * 0.001
    expect(image.median.bytes).toBe(1500)
    expect(image.p90.bytes).toBeCloseTo(Math.max(second, 2500), 6)
    expect(image.median.fraction).toBeCloseTo(1500 / 4000, 10)
    expect(image.median.seconds).toBeCloseTo(1500 / (100 * BYTES_PER_MBIT), 12)
    // Native ends: 0 -> 1000, 2 -> 2500, 3 -> 3500, 4 -> 4000.
    expect(at('native', 1000).median.bytes).toBe(3500)
    expect(at('ideal', 1000).median.bytes).toBe(1000)
  })

  it('uses nearest-rank quantiles', () => {
    expect(quantile([5, 1, 3, 2, 4], 0.5)).toBe(3)
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2)
    expect(
      quantile(
        Array.from({ length: 10 }, (_, i) => i + 1),
        0.9,
      ),
    ).toBe(9)
    expect(quantile([], 0.5)).toBe(0)
  })
})

describe('crossValidate', () => {
  it('holds each trace out once, loading one trace at a time', async () => {
    const rng = seededRng(5)
    const m = randomModel(rng)
    const traces: FirstAccess[] = []
    for (let i = 0; i < 11; i++) traces.push(await randomTrace(rng, m))
    let inFlight = 0
    let loads = 0
    const source: TraceSource = {
      count: traces.length,
      async load(index) {
        inFlight++
        loads++
        expect(inFlight).toBe(1)
        await new Promise((resolve) => setTimeout(resolve, 0))
        inFlight--
        return traces[index]
      },
    }
    const current = nativeOrder(m)
    const report = await crossValidate(m, source, 4, statsOrderBuilder(m, { untraced: 'last' }), {
      current,
    })
    expect(report.traces).toBe(11)
    expect(report.rows.map((row) => row.name)).toEqual([
      'full download',
      'native',
      'file-level',
      'image',
      'current',
      'ideal',
    ])
    // Training passes (each training trace once per fold) plus one held-out pass.
    expect(loads).toBe(11 * 3 + 11)
    // The current image here is native: the same figures.
    expect(report.rows[4].bandwidths).toEqual(report.rows[1].bandwidths)
  })

  it('needs two traces', async () => {
    const one = memorySource([trace([[0, 0]])])
    await expect(crossValidate(model, one, 5, () => nativeOrder(model))).rejects.toThrow(RangeError)
  })
})

describe('loadProfile', () => {
  it('gives median and p90 preloads per bandwidth for the training traces', async () => {
    const rng = seededRng(8)
    const m = randomModel(rng, 4096)
    const traces: FirstAccess[] = []
    for (let i = 0; i < 15; i++) traces.push(await randomTrace(rng, m))
    const order = fileLevelOrder(m, traces)
    const profile = await loadProfile(m, order, memorySource(traces))
    expect(profile.format).toBe(PROFILE_FORMAT)
    expect(profile.traces).toBe(15)
    expect(profile.blockSize).toBe(4096)
    expect(JSON.parse(JSON.stringify(profile))).toEqual(profile)
    let previous = Number.POSITIVE_INFINITY
    for (const row of profile.bandwidths) {
      const preloads = traces.map((t) => preloadBytes(m, order, t, row.bytesPerSecond))
      expect(row.bytesPerSecond).toBe(row.mbit * BYTES_PER_MBIT)
      expect(row.median.preloadBytes).toBe(Math.ceil(quantile(preloads, 0.5)))
      expect(row.p90.preloadBytes).toBe(Math.ceil(quantile(preloads, 0.9)))
      expect(row.median.preloadBytes).toBeLessThanOrEqual(row.p90.preloadBytes)
      expect(row.p90.seconds).toBeCloseTo(row.p90.preloadBytes / row.bytesPerSecond, 12)
      expect(row.p90.preloadBytes).toBeLessThanOrEqual(previous)
      previous = row.p90.preloadBytes
    }
    const at100 = profile.bandwidths.find((row) => row.mbit === 100)!
    expect(profilePreload(profile, 180)).toBe(at100.p90.preloadBytes)
    expect(profilePreload(profile, 100, 'median')).toBe(at100.median.preloadBytes)
    expect(profilePreload(profile, 1)).toBe(profile.imageBytes)
  })

  it('asks for the whole image when no trace exists', async () => {
    const profile = await loadProfile(model, nativeOrder(model), memorySource([]))
    expect(profile.traces).toBe(0)
    expect(profile.bandwidths.every((row) => row.p90.preloadBytes === 4000)).toBe(true)
  })
})
