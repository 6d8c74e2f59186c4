/**
 * Memory and time of the engine work of each `mkdxf` step at the limits DESIGN.md sets: a build
 * of 1.6 M blocks of 64 KiB and the 500 traces a run measures, all synthetic (a seeded game:
 * big packs and many small files; sessions that boot, then read runs of blocks, popular files
 * more often). Each step runs in a child process of its own, like a fresh Worker isolate: the
 * child makes the inputs, keeps them as bytes the way R2 would hand them over, collects
 * garbage and takes a baseline, then does what the step does with them.
 *
 * The figure is the peak of heapUsed + arrayBuffers over that baseline, sampled at every trace
 * load and around each engine call that allocates and drops a lot at once (ordering,
 * header encoding). By default no collection is forced meanwhile: garbage not yet collected
 * counts too, so the figure errs high. With `--live`, garbage is collected before every
 * sample and before each such call, which is then counted as what was in use before it plus
 * all it allocated: the peak of memory in use, what a Worker's limit applies to once V8 has
 * collected. Collections add to the time of a `--live` run.
 *
 * Run: node --expose-gc --import tsx scripts/bench/engine-memory-mkdxf.ts
 *   [--blocks 1600000] [--traces 500] [--share 0.05] [--step plan|start|fold|decide|prepare] [--method tenth|first|typical] [--live] [--runs 3]
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import {
  decodeBlockList,
  encodeBlockList,
  encodeGeometry,
} from '../../src/domain/builds/mkraw/block-geometry'
import { decide } from '../../src/domain/training/mkdxf/decide'
import {
  addTrace,
  coverage,
  decodeStats,
  emptyStats,
  encodeStats,
} from '../../src/engine/block-stats'
import { type BuildModel, buildModel, modelIndex } from '../../src/engine/build-model'
import {
  crossValidateFold,
  type FoldPreloads,
  foldsReport,
  type OrderBuilder,
} from '../../src/engine/cross-validate'
import { encodeImageHeader } from '../../src/engine/dxf'
import { ORDER_METHODS, orderFromStats } from '../../src/engine/order'
import { loadProfile } from '../../src/engine/profile'
import type { ScannedFile } from '../../src/engine/tar-scan'
import { decodeNormalisedTrace, encodeNormalisedTrace } from '../../src/engine/trace-codec'
import { forEachTrace, type TraceSource } from '../../src/engine/trace-source'
import type { FirstAccess } from '../../src/engine/trace-types'
import { typicalNeed, withTypicalHead } from '../../src/engine/typical'

const STEPS = ['plan', 'start', 'fold', 'decide', 'prepare'] as const
type Step = (typeof STEPS)[number]

const BLOCK_SIZE = 64 * 1024
const MB = 1e6
/** With `--live`, every sample collects garbage first: the peak of what is still used. */
const LIVE = process.argv.includes('--live')

interface Options {
  blocks: number
  traces: number
  /** Share of the build's blocks a session touches, roughly. */
  share: number
  folds: number
  /** Children per step; the highest peak is the figure. */
  runs: number
  /** The order method (ORDER_METHODS) the fold step orders by. */
  method: string
}

function optionsOf(args: string[]): Options & { step?: Step } {
  const value = (name: string) => {
    const at = args.indexOf(`--${name}`)
    return at === -1 ? undefined : args[at + 1]
  }
  const step = value('step') as Step | undefined
  if (step && !STEPS.includes(step)) throw new Error(`unknown step ${step}`)
  return {
    blocks: Number(value('blocks') ?? 1_600_000),
    traces: Number(value('traces') ?? 500),
    share: Number(value('share') ?? 0.05),
    folds: 5,
    runs: Number(value('runs') ?? 3),
    method: value('method') ?? 'tenth',
    step,
  }
}

/** A seeded generator of numbers in [0, 1) (mulberry32). */
function random(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** The model of a file table, as the service's build store makes it (regular files only). */
function modelOfFiles(blockSize: number, files: readonly ScannedFile[]): BuildModel {
  return buildModel(
    blockSize,
    files
      .filter((file) => file.kind === 'file')
      .map(({ path, size, firstBlock, blockCount }) => ({ path, size, firstBlock, blockCount })),
  )
}

/** The file table: a big pack every 400 files (1.2 GB or so), small files (1-64 blocks) else. */
function fileTable(blocks: number): ScannedFile[] {
  const next = random(1)
  const files: ScannedFile[] = []
  let block = 0
  let tarOffset = 0
  while (block < blocks) {
    const i = files.length
    const wanted = i % 400 === 0 ? 16_000 + Math.floor(next() * 8000) : 1 + Math.floor(next() * 64)
    const blockCount = Math.min(wanted, blocks - block)
    const size = (blockCount - 1) * BLOCK_SIZE + 1 + Math.floor(next() * (BLOCK_SIZE - 1))
    files.push({
      index: i,
      path: `game/data/set${i % 97}/file${i}.${i % 400 === 0 ? 'pak' : 'bin'}`,
      kind: 'file',
      size,
      mode: 0o644,
      mtimeSec: 1_700_000_000,
      tarDataOffset: tarOffset + 512,
      firstBlock: block,
      blockCount,
    })
    block += blockCount
    tarOffset += 512 + Math.ceil(size / 512) * 512
  }
  return files
}

/**
 * One session: the first 0.5 % of the build at boot, then runs of up to 256 blocks over ten
 * minutes, two in three in the 10 % of files every session favours.
 */
function session(model: BuildModel, seed: number, share: number, seen: Uint8Array): FirstAccess {
  const next = random(1000 + seed)
  const blocks: number[] = []
  const tMs: number[] = []
  const touch = (block: number, t: number) => {
    if (seen[block]) return
    seen[block] = 1
    blocks.push(block)
    tMs.push(t)
  }
  const boot = Math.floor(model.blockCount * 0.005)
  for (let block = 0; block < boot; block++) touch(block, Math.floor(block / 4))
  const runs = Math.ceil((model.blockCount * share) / 128)
  let t = 2000
  for (let run = 0; run < runs; run++) {
    const popular = next() < 2 / 3
    const fileCount = model.files.length
    const file = model.files[Math.floor(next() * (popular ? fileCount / 10 : fileCount))]
    const length = 1 + Math.floor(next() * 256)
    const from = file.firstBlock + Math.floor(next() * file.blockCount)
    const end = Math.min(file.firstBlock + file.blockCount, from + length)
    t += Math.floor(next() * ((2 * 600_000) / runs))
    for (let block = from; block < end; block++) touch(block, t + (block - from))
    t += end - from
  }
  for (const block of blocks) seen[block] = 0
  return { blocks: Uint32Array.from(blocks), tMs: Uint32Array.from(tMs) }
}

/** What R2 would hold for the run: the traces' stored form, the file table, the orders. */
interface Inputs {
  files: ScannedFile[]
  fileTableJson: string
  model: BuildModel
  traceBlobs: Uint8Array[]
}

function inputs(opts: Options): Inputs {
  const files = fileTable(opts.blocks)
  const model = modelOfFiles(BLOCK_SIZE, files)
  const seen = new Uint8Array(model.blockCount)
  const traceBlobs: Uint8Array[] = []
  for (let i = 0; i < opts.traces; i++) {
    const firstAccess = session(model, i, opts.share, seen)
    const header = { format: 'rockit-trace/1' as const, sessionId: `s${i}`, durationMs: 600_000 }
    traceBlobs.push(encodeNormalisedTrace({ header, firstAccess }))
  }
  return { files, fileTableJson: JSON.stringify(files), model, traceBlobs }
}

function statsBlob(input: Inputs): Uint8Array {
  const stats = emptyStats(input.model)
  for (const blob of input.traceBlobs) {
    addTrace(stats, input.model, decodeNormalisedTrace(blob).firstAccess, 600_000)
  }
  return encodeStats(stats)
}

/** Peak of heapUsed + arrayBuffers over a baseline. */
class Peak {
  private base = 0
  peak = 0

  start(): void {
    for (let i = 0; i < 3; i++) globalThis.gc?.()
    this.base = this.now()
    this.peak = 0
  }

  sample(): void {
    if (LIVE) globalThis.gc?.()
    this.peak = Math.max(this.peak, this.now() - this.base)
  }

  /**
   * Runs `work` (one engine call that allocates and drops in one go) and counts what was in
   * use before it plus all it allocated: with `--live`, a bound on its peak.
   */
  around<T>(work: () => T): T {
    if (LIVE) globalThis.gc?.()
    const value = work()
    this.peak = Math.max(this.peak, this.now() - this.base)
    return value
  }

  private now(): number {
    const usage = process.memoryUsage()
    return usage.heapUsed + usage.arrayBuffers
  }
}

/** The traces as a Worker step reads them: a fresh copy of each stored form, decoded. */
function traceSource(blobs: Uint8Array[], peak: Peak): TraceSource {
  return {
    count: blobs.length,
    load(index) {
      const trace = decodeNormalisedTrace(blobs[index].slice()).firstAccess
      peak.sample()
      return trace
    },
  }
}

/** A model as `loadBuildModel` makes it: the file table parsed, then indexed. */
function loadModel(input: Inputs): BuildModel {
  const model = modelOfFiles(BLOCK_SIZE, JSON.parse(input.fileTableJson) as ScannedFile[])
  modelIndex(model)
  return model
}

/** P* of every fold as the fold steps store them; the candidate beats `current` by 10 %. */
function foldJsons(opts: Options, imageBytes: number): string[] {
  const next = random(7)
  const rows = ['native', 'file-level', 'image', 'current', 'ideal']
  const scale = [1, 0.6, 0.3, 0.33, 0.1]
  return Array.from({ length: opts.folds }, (_, fold) => {
    const traces: number[] = []
    for (let i = fold; i < opts.traces; i += opts.folds) traces.push(i)
    const preload: number[] = []
    for (const _trace of traces) {
      const base = imageBytes * (0.05 + 0.1 * next())
      for (const factor of scale) for (const slow of [4, 1, 0.1]) preload.push(base * factor * slow)
    }
    const result: FoldPreloads = {
      fold,
      folds: opts.folds,
      traces,
      rows,
      mbits: [25, 100, 1000],
      preload,
    }
    return JSON.stringify(result)
  })
}

async function runStep(step: Step, opts: Options): Promise<{ peakBytes: number; ms: number }> {
  const input = inputs(opts)
  const peak = new Peak()
  let run: () => Promise<unknown>

  if (step === 'start') {
    // The evaluation's start compares the candidate with the published order.
    const candidate = encodeBlockList(nativeList(input.model).reverse())
    const current = encodeBlockList(nativeList(input.model))
    run = async () => {
      const a = decodeBlockList(candidate.slice())
      peak.sample()
      const b = decodeBlockList(current.slice())
      peak.sample()
      return a.every((block, slot) => block === b[slot])
    }
  } else if (step === 'plan') {
    const stored = statsBlob(input)
    run = async () => {
      const model = loadModel(input)
      peak.sample()
      // The stats object read into one buffer of its size, as the plan step does.
      const stats = decodeStats(stored.slice())
      peak.sample()
      const covered = peak.around(() => coverage(model, stats))
      const untraced = stats.nTraces >= 10 ? 'last' : 'first'
      const candidate = peak.around(() => orderFromStats(model, stats, { untraced }))
      const bytes = peak.around(() => encodeBlockList(candidate))
      return [covered, bytes.length]
    }
  } else if (step === 'fold') {
    const method = ORDER_METHODS.find((one) => one.name === opts.method)
    if (!method) throw new Error(`unknown order method ${opts.method}`)
    const current = encodeBlockList(nativeList(input.model))
    run = async () => {
      const model = loadModel(input)
      peak.sample()
      const order = decodeBlockList(current.slice())
      peak.sample()
      // statsOrderBuilder's work, with the order's own peak measured too.
      const builder: OrderBuilder = async (training) => {
        const stats = emptyStats(model)
        await forEachTrace(training, (trace) => addTrace(stats, model, trace, 0))
        const order = peak.around(() =>
          orderFromStats(model, stats, { untraced: 'last', needShare: method.needShare }),
        )
        if (method.typicalShare === undefined) return order
        const need = await typicalNeed(model, stats, training, method.typicalShare)
        return peak.around(() => withTypicalHead(order, need, stats))
      }
      const traces = traceSource(input.traceBlobs, peak)
      const result = await crossValidateFold(model, traces, opts.folds, 0, builder, {
        current: order,
      })
      peak.sample()
      const json = JSON.stringify(result)
      peak.sample()
      return json.length
    }
  } else if (step === 'decide') {
    const folds = foldJsons(opts, modelIndex(input.model).totalBytes)
    const candidate = encodeBlockList(
      orderFromStats(input.model, decodeStats(statsBlob(input)), { untraced: 'last' }),
    )
    run = async () => {
      const results = folds.map((json) => JSON.parse(json) as FoldPreloads)
      const model = loadModel(input)
      peak.sample()
      const decision = decide(foldsReport(modelIndex(model).totalBytes, results), opts.folds)
      if (!decision.deploy) throw new Error('the synthetic candidate should win')
      const order = decodeBlockList(candidate.slice())
      peak.sample()
      const profile = await loadProfile(model, order, traceSource(input.traceBlobs, peak))
      peak.sample()
      return profile.traces
    }
  } else {
    const candidate = encodeBlockList(nativeList(input.model).reverse())
    const hashes = new Uint8Array(16 * input.model.blockCount)
    const next = random(3)
    for (let i = 0; i < hashes.length; i += 4) hashes[i] = Math.floor(next() * 256)
    const profile = {
      format: 'rockit-profile/1',
      imageBytes: 0,
      blockSize: BLOCK_SIZE,
      traces: 500,
      bandwidths: [],
    }
    run = async () => {
      const order = decodeBlockList(candidate.slice())
      peak.sample()
      const files = JSON.parse(input.fileTableJson) as ScannedFile[]
      peak.sample()
      const blockHashes = hashes.slice()
      peak.sample()
      const wanted = { blockSize: BLOCK_SIZE, files, blockHashes, order, profile }
      const header = peak.around(() => encodeImageHeader(wanted))
      const geometry = peak.around(() => encodeGeometry(files))
      return header.length + geometry.length
    }
  }
  // Only what a step receives stays: the model made for the inputs is the step's to make.
  input.model = undefined as unknown as BuildModel
  peak.start()
  const started = performance.now()
  await run()
  const ms = performance.now() - started
  peak.sample()
  return { peakBytes: peak.peak, ms }
}

function nativeList(model: BuildModel): Uint32Array {
  const list = new Uint32Array(model.blockCount)
  for (let i = 0; i < list.length; i++) list[i] = i
  return list
}

async function main(): Promise<void> {
  const args = process.argv.slice(2)
  const opts = optionsOf(args)
  if (!globalThis.gc) throw new Error('run with node --expose-gc --import tsx')
  if (args.includes('--child') && opts.step) {
    const measured = await runStep(opts.step, opts)
    process.stdout.write(`${JSON.stringify(measured)}\n`)
    return
  }
  console.log(
    `mkdxf steps at ${opts.blocks} blocks of 64 KiB, ${opts.traces} traces touching about ` +
      `${(opts.share * 100).toFixed(1)} % of the blocks each, ${opts.folds} folds`,
  )
  console.log(
    `peak of heapUsed + arrayBuffers over the baseline, ${LIVE ? 'garbage collected at each sample' : 'garbage included'}; ` +
      `highest and lowest of ${opts.runs} runs; time of the fastest run`,
  )
  const script = fileURLToPath(import.meta.url)
  const stepAt = args.indexOf('--step')
  const shared = stepAt === -1 ? args : [...args.slice(0, stepAt), ...args.slice(stepAt + 2)]
  for (const step of opts.step ? [opts.step] : STEPS) {
    const runs: Array<{ peakBytes: number; ms: number }> = []
    for (let run = 0; run < opts.runs; run++) {
      const child = spawnSync(
        process.execPath,
        [...process.execArgv, script, ...shared, '--child', '--step', step],
        { encoding: 'utf8', maxBuffer: 1 << 20 },
      )
      if (child.status !== 0) throw new Error(`step ${step} failed: ${child.stderr}`)
      runs.push(JSON.parse(child.stdout.trim().split('\n').pop() as string))
    }
    const peaks = runs.map((run) => run.peakBytes)
    const high = Math.max(...peaks)
    const low = Math.min(...peaks)
    const ms = Math.min(...runs.map((run) => run.ms))
    console.log(
      `${step.padEnd(8)} ${(high / MB).toFixed(1).padStart(6)} MB (${(high / opts.blocks).toFixed(1)} bytes ` +
        `per block), lowest ${(low / MB).toFixed(1)} MB, ${(ms / 1000).toFixed(2)} s`,
    )
  }
}

await main()
