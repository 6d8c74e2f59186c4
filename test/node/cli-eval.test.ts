import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  evaluatePreload,
  modelOfImage,
  type PreloadReport,
  ROW_NAMES,
} from '../../cli/commands/eval-report'
import { main } from '../../cli/rockit'
import { addTrace, emptyStats } from '../../src/engine/block-stats'
import { type BuildModel, buildModel } from '../../src/engine/build-model'
import { encodeImageHeader, type ImageFile, parseImageHeader } from '../../src/engine/dxf'
import { nativeOrder, orderFromStats } from '../../src/engine/order'
import { BYTES_PER_MBIT } from '../../src/engine/preload'
import { serialiseTrace } from '../../src/engine/trace-codec'
import { parseTrace } from '../../src/engine/trace-parse'
import type { FirstAccess, TraceRead } from '../../src/engine/trace-types'
import {
  filesFor,
  type GameShape,
  gameModel,
  gameSessions,
  header,
  seededRng,
} from './engine-fixtures'
import { tempDir } from './tar-fixtures'

/** First accesses of reads on a model, through the engine's own trace parser. */
async function firstAccess(model: BuildModel, reads: TraceRead[]): Promise<FirstAccess> {
  const text = serialiseTrace(header('s'), reads)
  return (await parseTrace(new TextEncoder().encode(text), { model })).firstAccess
}

function cell(report: PreloadReport, row: string, mbit: number) {
  return report.rows.find((r) => r.name === row)!.bandwidths.find((c) => c.mbit === mbit)!
}

describe('the preload report on a hand-sized build', () => {
  // Blocks of 100 bytes: a = blocks 0-1, b = block 2, c = blocks 3-5. 0.0008 Mbit/s = 100 B/s.
  const model = buildModel(
    100,
    filesFor(100, [
      ['a', 200],
      ['b', 100],
      ['c', 300],
    ]),
  )
  const slow = 0.0008
  let trace: FirstAccess

  beforeAll(async () => {
    // c's first block at once, then a's first block one second later.
    trace = await firstAccess(model, [
      [0, 'c', 0, 50],
      [1000, 'a', 0, 10],
    ])
  })

  it('gives P* from the image, native and ideal orders as the measure defines it', async () => {
    const report = await evaluatePreload(model, nativeOrder(model), [trace], { mbits: [slow] })
    // native: c's block ends at 400 at t=0 -> 400. ideal: 100 at t=0, 200 at t=1 s -> 100.
    expect(cell(report, 'native', slow).median).toEqual({
      bytes: 400,
      fraction: 400 / 600,
      seconds: 4,
    })
    expect(cell(report, 'image', slow).median.bytes).toBe(400)
    expect(cell(report, 'ideal', slow).median).toEqual({
      bytes: 100,
      fraction: 100 / 600,
      seconds: 1,
    })
    expect(cell(report, 'full download', slow).median).toEqual({
      bytes: 600,
      fraction: 1,
      seconds: 6,
    })
    // With only one trace, leave-one-out learns from nothing: files stay in tar order.
    expect(report.fileLevelFrom).toBe('leave-one-out')
    expect(cell(report, 'file-level', slow).median.bytes).toBe(400)
  })

  it('learns the file-level order from training traces when given', async () => {
    const train = [await firstAccess(model, [[0, 'c', 0, 300]])]
    const report = await evaluatePreload(model, nativeOrder(model), [trace], {
      mbits: [slow],
      train,
    })
    // c first (blocks 3-5), then a: block 3 ends at 100 at t=0, block 0 at 400 at t=1 s -> 300.
    expect(report.fileLevelFrom).toBe('train')
    expect(cell(report, 'file-level', slow).median.bytes).toBe(300)
  })
})

describe('the preload report on game-like sessions', () => {
  const shape: GameShape = {
    blockSize: 65536,
    levels: 6,
    levelMiB: 24,
    startupMiB: 16,
    commonMiB: 48,
    unusedMiB: 64,
  }
  const model = gameModel(shape)
  let report: PreloadReport

  beforeAll(async () => {
    const sessions = gameSessions(seededRng(11), model, shape, { sessions: 30, scatteredReads: 80 })
    const traces = await Promise.all(sessions.map((s) => firstAccess(model, s.reads)))
    const train = traces.slice(0, 24)
    const heldOut = traces.slice(24)
    const stats = emptyStats(model)
    for (const trace of train) addTrace(stats, model, trace, 60_000)
    const order = orderFromStats(model, stats, { untraced: 'last' })
    report = await evaluatePreload(model, order, heldOut, { train })
  })

  it('names its rows exactly and covers 25, 100 and 1000 Mbit/s', () => {
    expect(report.rows.map((row) => row.name)).toEqual([
      'full download',
      'native',
      'file-level',
      'image',
      'ideal',
    ])
    expect(ROW_NAMES).toEqual(report.rows.map((row) => row.name))
    expect(report.mbits).toEqual([25, 100, 1000])
    expect(report.traces).toBe(6)
  })

  it('never lets an order beat the ideal, nor the ideal a full download', () => {
    for (const mbit of report.mbits) {
      for (const at of ['median', 'p90'] as const) {
        const ideal = cell(report, 'ideal', mbit)[at].bytes
        for (const row of ['native', 'file-level', 'image']) {
          expect(cell(report, row, mbit)[at].bytes, `${row} ${mbit} ${at}`).toBeGreaterThanOrEqual(
            ideal,
          )
        }
        expect(ideal).toBeLessThanOrEqual(report.imageBytes)
      }
    }
  })

  it('shows seconds as preload over bandwidth and fractions of the block data', () => {
    for (const row of report.rows) {
      for (const { mbit, median, p90 } of row.bandwidths) {
        expect(median.seconds).toBeCloseTo(median.bytes / (mbit * BYTES_PER_MBIT), 9)
        expect(median.fraction).toBeCloseTo(median.bytes / report.imageBytes, 12)
        expect(p90.bytes).toBeGreaterThanOrEqual(median.bytes)
      }
    }
    expect(cell(report, 'full download', 25).median.fraction).toBe(1)
  })

  it('finds the learnt order well ahead of native order', () => {
    for (const mbit of report.mbits) {
      expect(cell(report, 'image', mbit).median.bytes).toBeLessThan(
        cell(report, 'native', mbit).median.bytes,
      )
    }
  })
})

describe('rockit eval', () => {
  let work: string
  let imagePath: string
  const model = buildModel(
    1024,
    filesFor(1024, [
      ['bin/game', 5000],
      ['data/a.pak', 20_000],
      ['data/b.pak', 9000],
    ]),
  )

  beforeAll(() => {
    work = tempDir('cli-eval')
    // Only the header is read by eval; the block data would follow it in a real image.
    const files: ImageFile[] = model.files.map((file) => ({
      ...file,
      kind: 'file',
      mode: 0o644,
      mtimeSec: 0,
    }))
    const order = nativeOrder(model).reverse()
    const headerBytes = encodeImageHeader({
      blockSize: 1024,
      files,
      blockHashes: Array.from({ length: model.blockCount }, () => '0'.repeat(32)),
      order,
    })
    imagePath = path.join(work, 'image.dxf')
    fs.writeFileSync(imagePath, headerBytes)
    const reads: TraceRead[][] = [
      [
        [0, 'data/b.pak', 0, 9000],
        [200, 'bin/game', 0, 5000],
      ],
      [
        [0, 'data/b.pak', 0, 4000],
        [50, 'bin/game', 0, 100],
        [900, 'data/a.pak', 0, 2048],
      ],
      [[10, 'data/b.pak', 8000, 1000]],
    ]
    reads.forEach((trace, i) => {
      fs.writeFileSync(path.join(work, `t${i}.ndjson`), serialiseTrace(header(`s${i}`), trace))
    })
  })

  afterAll(() => {
    fs.rmSync(work, { recursive: true, force: true })
  })

  async function run(args: string[]) {
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    const code = await main(args)
    const out = stdout.mock.calls.map((call) => String(call[0])).join('')
    const err = stderr.mock.calls.map((call) => String(call[0])).join('')
    stdout.mockRestore()
    stderr.mockRestore()
    return { code, out, err }
  }

  it('prints one row per order with the figures of the report', async () => {
    const traces = [0, 1, 2].map((i) => path.join(work, `t${i}.ndjson`))
    const { code, out } = await run(['eval', '--image', imagePath, '--traces', ...traces])
    expect(code).toBe(0)
    const lines = out.split('\n')
    for (const name of ['native', 'file-level', 'image', 'ideal', 'full download']) {
      expect(
        lines.some((line) => line.startsWith(`${name} `)),
        name,
      ).toBe(true)
    }
    expect(out).toContain('25 Mbit/s')
    expect(out).toContain('3 held-out traces; file-level order from the other held-out traces')

    const json = await run(['eval', '--image', imagePath, '--traces', ...traces, '--json'])
    const report = JSON.parse(json.out)
    const header = parseImageHeader(new Uint8Array(fs.readFileSync(imagePath)))
    const expected = await evaluatePreload(
      modelOfImage(header),
      header.order,
      await Promise.all(
        traces.map(
          async (file) =>
            (await parseTrace(new Uint8Array(fs.readFileSync(file)), { model })).firstAccess,
        ),
      ),
    )
    expect(report.rows).toEqual(expected.rows)
    expect(report.fileBytes).toBe(header.headerLength + header.dataLength)
    expect(report.imageBytes).toBe(header.dataLength)
  })

  it('names the trace that does not fit the build', async () => {
    const bad = path.join(work, 'bad.ndjson')
    fs.writeFileSync(bad, serialiseTrace(header('bad'), [[0, 'data/missing.pak', 0, 1]]))
    const { code, err } = await run(['eval', '--image', imagePath, '--traces', bad])
    expect(code).toBe(1)
    expect(err).toContain('bad.ndjson')
    expect(err).toContain('line 2')
  })

  it('needs an image and traces', async () => {
    expect((await run(['eval', '--traces', 'x'])).code).toBe(2)
    expect((await run(['eval', '--image', imagePath])).code).toBe(2)
  })
})
