/**
 * Memory and time of patch planning and training inheritance at 1.6 M blocks (a 100 GB build
 * of 64 KiB blocks), against a Worker's 128 MB. Synthetic builds A and B share 90 % of their
 * blocks; B renames a tenth of A's files, so part of the matching goes through the hash index.
 *
 *   node --expose-gc --import tsx scripts/bench/engine-memory-patch.ts [--blocks N] [--seed S]
 *     [--files game|small] [--src DIR] [--runs N] [--live]
 *
 * It runs the service's own code, as the Worker steps call it: `planPatch` alone, mkraw's
 * patch planning step (`preparePatch`), inheritance (`inheritedStats`) and the coordinator's
 * seeding of a new build (`followBuild`: inheritance, then storing the statistics), against an
 * in-memory R2 (every read hands out a fresh copy; bodies stream in 64 KiB chunks) and a D1
 * that answers the one `builds` lookup those steps make.
 *
 * Memory is `process.memoryUsage()` heapUsed + arrayBuffers. A worker thread samples it every
 * 2 ms through an inspector session on the main thread, whose messages run as interrupts, so
 * the peak is seen inside synchronous engine calls too; with `--live` each sample first runs a
 * full GC, so only live memory counts (and the steps run far slower). Growth is over a baseline taken after
 * a full GC with the stored objects and both build models in place (the service caches models
 * per isolate). `--src` loads another checkout of src (say `git archive <rev> src | tar -x -C
 * /tmp/old`, with node_modules linked beside it), to compare revisions.
 */
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { Worker } from 'node:worker_threads'
import type { BlockStats } from '../../src/engine/block-stats'
import type { BuildModel } from '../../src/engine/build-model'
import type { PatchPlan } from '../../src/engine/patch-plan'
import type { ScannedFile } from '../../src/engine/tar-scan'

const BLOCK_SIZE = 64 * 1024
const HASH_BYTES = 16
const MB = 1e6
const CHUNK_BYTES = 64 * 1024

const { values } = parseArgs({
  options: {
    blocks: { type: 'string', default: '1600000' },
    seed: { type: 'string', default: '1' },
    files: { type: 'string', default: 'game' },
    src: { type: 'string', default: resolve(import.meta.dirname, '../../src') },
    runs: { type: 'string', default: '3' },
    live: { type: 'boolean', default: false },
  },
})
const blockCount = Number(values.blocks)
const srcDir = resolve(values.src as string)
const load = (name: string) => import(pathToFileURL(`${srcDir}/${name}.ts`).href)
const { emptyStats, encodeStats } = await load('engine/block-stats')
const { encodeImageHeader } = await load('engine/dxf')
// Revisions before the split kept planPatch in engine/patch.ts.
const { planPatch } = await load('engine/patch-plan').catch(() => load('engine/patch'))
const { modelOfFiles } = await load('domain/training/build-store')
const { modelOfBuild } = await load('domain/training/fold')
const { inheritedStats } = await load('domain/training/carry')
const { followBuild } = await load('domain/training/seed')
const { preparePatch } = await load('domain/builds/mkraw/patches')
const keys = await load('storage/keys')

const gc = (globalThis as { gc?: () => void }).gc
if (!gc) throw new Error('run with node --expose-gc')

function rng(seed: number) {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }
}
const random = rng(Number(values.seed))
const below = (n: number) => random() % n

function randomHash(target: Uint8Array, block: number) {
  for (let i = 0; i < HASH_BYTES; i += 4) {
    const word = random()
    for (let k = 0; k < 4; k++) target[block * HASH_BYTES + i + k] = (word >>> (8 * k)) & 0xff
  }
}

/**
 * Files as the tar scan lists them. `game`: 1 % packs of 2,000 to 12,000 blocks, the rest 1 to
 * 40 blocks. `small`: 1 to 4 blocks each, the most files 1.6 M blocks come in.
 */
function filesOf(total: number): ScannedFile[] {
  const files: ScannedFile[] = []
  let tarOffset = 512
  for (let firstBlock = 0; firstBlock < total; ) {
    const wanted =
      values.files === 'small'
        ? 1 + below(4)
        : below(100) === 0
          ? 2000 + below(10_000)
          : 1 + below(40)
    const count = Math.min(wanted, total - firstBlock)
    const size = count * BLOCK_SIZE - below(BLOCK_SIZE)
    files.push({
      index: files.length,
      path: `data/${Math.floor(files.length / 100)}/${files.length}.bin`,
      kind: 'file',
      size,
      mode: 0o644,
      mtimeSec: 1_700_000_000 + below(1e6),
      tarDataOffset: tarOffset,
      firstBlock,
      blockCount: count,
    })
    tarOffset += Math.ceil(size / 512) * 512 + 512
    firstBlock += count
  }
  return files
}

const encoder = new TextEncoder()
const ORG = 'org1'
const APP = 'app1'

/** Builds 1 (A) and 2 (B) as R2 would hold them, and their models. */
function synthesise(bucket: MemoryBucket) {
  const filesA = filesOf(blockCount)
  const filesB = filesA.map((file) =>
    below(10) === 0 ? { ...file, path: file.path.replace('data/', 'moved/') } : file,
  )
  const hashesA = new Uint8Array(blockCount * HASH_BYTES)
  for (let block = 0; block < blockCount; block++) randomHash(hashesA, block)
  const hashesB = hashesA.slice()
  for (let block = 0; block < blockCount; block++) {
    if (below(10) !== 0) continue
    // New content; one in fifty new blocks repeats an earlier one, as copies of a file do.
    if (block > 0 && below(50) === 0) {
      const other = below(block)
      hashesB.copyWithin(block * HASH_BYTES, other * HASH_BYTES, (other + 1) * HASH_BYTES)
    } else randomHash(hashesB, block)
  }
  const orderA = Uint32Array.from({ length: blockCount }, (_, i) => i)
  const orderB = orderA.slice()
  for (let i = blockCount - 1; i > 0; i--) {
    const j = below(i + 1)
    ;[orderB[i], orderB[j]] = [orderB[j], orderB[i]]
  }
  const modelA: BuildModel = modelOfFiles(BLOCK_SIZE, filesA)
  const modelB: BuildModel = modelOfFiles(BLOCK_SIZE, filesB)
  const statsA: BlockStats = emptyStats(modelA)
  statsA.nTraces = 200
  statsA.traceTimeMs = 200 * 600_000
  for (let block = 0; block < blockCount; block++) {
    if (below(3) === 0) continue
    statsA.count[block] = 1 + below(200)
    statsA.earliestMs[block] = below(600_000)
    statsA.latestMs[block] = statsA.earliestMs[block] + below(60_000)
  }
  for (let i = 0; i < statsA.timeBins.length; i++) statsA.timeBins[i] = below(256)

  const [a, b] = [1, 2].map((buildId) => keys.buildKeys(ORG, APP, buildId))
  bucket.set(a.files, encoder.encode(JSON.stringify(filesA)))
  bucket.set(b.files, encoder.encode(JSON.stringify(filesB)))
  bucket.set(a.blocks, hashesA)
  bucket.set(b.blocks, hashesB)
  const header = (files: ScannedFile[], hashes: Uint8Array, order: Uint32Array) =>
    encodeImageHeader({ blockSize: BLOCK_SIZE, files, blockHashes: hashes, order })
  // A's image: its header is all a patch step reads of it.
  bucket.set(keys.imageKeys(ORG, APP, 'dxf-1-01').image, header(filesA, hashesA, orderA))
  const headerB: Uint8Array = header(filesB, hashesB, orderB)
  bucket.set('work/2/image-header.bin', headerB)
  bucket.set('work/2/image-list.bin', new Uint8Array(orderB.buffer))
  bucket.set(keys.statsKey(ORG, APP, 1), encodeStats(statsA), { nTraces: '200', foldSeq: '1' })
  const dataBytes = filesB.reduce((sum, file) => sum + file.size, 0)
  return { modelA, modelB, filesA, headerB, totalB: headerB.length + dataBytes }
}

/** R2 in memory: every read is a fresh copy, as a Worker receives it. */
class MemoryBucket {
  private readonly objects = new Map<string, { bytes: Uint8Array; meta: object; etag: string }>()
  private version = 0

  set(key: string, bytes: Uint8Array, meta: Record<string, string> = {}) {
    this.objects.set(key, { bytes, meta, etag: `v${++this.version}` })
  }

  delete(key: string) {
    this.objects.delete(key)
  }

  sizeOf(key: string): number {
    return this.objects.get(key)?.bytes.length ?? 0
  }

  private info(key: string) {
    const object = this.objects.get(key)
    if (!object) return null
    const { bytes, meta, etag } = object
    return { key, size: bytes.length, etag, customMetadata: meta }
  }

  async head(key: string) {
    return this.info(key)
  }

  async get(
    key: string,
    options?: { range?: { offset?: number; length?: number }; onlyIf?: { etagMatches?: string } },
  ) {
    const info = this.info(key)
    if (!info) return null
    const stored = this.objects.get(key)!.bytes
    if (options?.onlyIf?.etagMatches && options.onlyIf.etagMatches !== info.etag) return info
    const offset = options?.range?.offset ?? 0
    const length = options?.range?.length ?? stored.length - offset
    const view = stored.subarray(offset, offset + length)
    return {
      ...info,
      arrayBuffer: async () => view.slice().buffer,
      text: async () => new TextDecoder().decode(view),
      json: async () => JSON.parse(new TextDecoder().decode(view)),
      // A stream that copies a chunk only when the reader asks for it, as R2's does.
      get body() {
        let at = 0
        return new ReadableStream<Uint8Array>({
          pull(controller) {
            if (at >= view.length) return controller.close()
            controller.enqueue(view.slice(at, at + CHUNK_BYTES))
            at += CHUNK_BYTES
          },
        })
      },
    }
  }

  async put(key: string, value: Uint8Array | string, options?: { customMetadata?: object }) {
    // Kept as given: what a Worker stores leaves its memory once the put is done.
    const bytes = typeof value === 'string' ? encoder.encode(value) : value
    this.set(key, bytes, (options?.customMetadata ?? {}) as Record<string, string>)
  }
}

/** D1 answering `select ... from builds where app_id = ? and build_id = ?` (drizzle's SQL). */
function buildsDatabase(rows: Record<string, unknown>[]) {
  const answer = (sql: string, params: unknown[]) => {
    if (!/^select .* from "builds"/.test(sql)) throw new Error(`not in this bench: ${sql}`)
    const columns = sql
      .slice('select '.length, sql.indexOf(' from '))
      .split(', ')
      .map((column) => (column.match(/"([^"]+)"$/) as RegExpMatchArray)[1])
    const found = rows.filter((row) => row.app_id === params[0] && row.build_id === params[1])
    return { columns, found }
  }
  return {
    prepare: (sql: string) => ({
      bind: (...params: unknown[]) => ({
        raw: async () => {
          const { columns, found } = answer(sql, params)
          return found.map((row) => columns.map((column) => row[column]))
        },
        all: async () => ({ results: answer(sql, params).found }),
      }),
    }),
  }
}

/** Peak of heapUsed + arrayBuffers on this thread, sampled from a worker thread. */
class PeakSampler {
  private readonly worker: Worker

  constructor(live: boolean) {
    // Live: a full GC before each sample, so garbage V8 has not collected yet does not count.
    ;(globalThis as { __memoryProbe?: () => number }).__memoryProbe = live
      ? () => {
          gc?.()
          return used()
        }
      : used
    this.worker = new Worker(
      `const { Session } = require('node:inspector')
      const { parentPort } = require('node:worker_threads')
      const session = new Session()
      session.connectToMainThread()
      let peak = 0, samples = 0, running = false
      const sample = () => session.post('Runtime.evaluate',
        { expression: 'globalThis.__memoryProbe()', returnByValue: true }, (error, answer) => {
          if (!error && answer.result) { samples++; peak = Math.max(peak, answer.result.value) }
          if (running) setTimeout(sample, 2)
        })
      parentPort.on('message', (what) => {
        if (what === 'start') { peak = 0; samples = 0; running = true; sample() }
        else { running = false; setTimeout(() => parentPort.postMessage({ peak, samples }), 10) }
      })`,
      { eval: true },
    )
  }

  async measure<T>(work: () => T | Promise<T>) {
    await settle()
    const base = used()
    this.worker.postMessage('start')
    await new Promise((done) => setTimeout(done, 20))
    const result = await work()
    const after = used()
    const answer = new Promise<{ peak: number; samples: number }>((done) =>
      this.worker.once('message', done),
    )
    this.worker.postMessage('stop')
    const { peak, samples } = await answer
    return { result, peakGrowth: Math.max(peak, after) - base, samples }
  }

  stop() {
    return this.worker.terminate()
  }
}

/** A full GC, and time for V8 to free the dead array buffers' memory, which it does later. */
async function settle() {
  for (let round = 0; round < 3; round++) {
    gc?.()
    await new Promise((done) => setTimeout(done, 50))
  }
}

function used() {
  const memory = process.memoryUsage()
  return memory.heapUsed + memory.arrayBuffers
}

async function timed<T>(work: () => T | Promise<T>): Promise<number> {
  const runs = Number(values.runs)
  const times: number[] = []
  for (let run = 0; run < runs; run++) {
    await settle()
    const start = performance.now()
    await work()
    times.push(performance.now() - start)
  }
  return times.sort((a, b) => a - b)[Math.floor(runs / 2)]
}

const mb = (bytes: number) => `${(bytes / MB).toFixed(1)} MB`

console.log(`blocks ${blockCount}, files ${values.files}, seed ${values.seed}, src ${srcDir}`)
const bucket = new MemoryBucket()
await settle()
const beforeStore = used()
const store = synthesise(bucket)
await settle()
const storeBytes = used() - beforeStore
const fileTableBytes = bucket.sizeOf(keys.buildKeys(ORG, APP, 1).files)
console.log(
  `files ${store.filesA.length}; file table JSON ${mb(fileTableBytes)}; image header ${mb(store.headerB.length)}; stored objects and models ${mb(storeBytes)}`,
)

const row = (buildId: number, dxfName: string) => ({
  id: `build-${buildId}`,
  org_id: ORG,
  app_id: APP,
  build_id: buildId,
  build_name: `v${buildId}`,
  state: 'ready',
  size_bytes: 0,
  files: store.filesA.length,
  blocks: blockCount,
  block_size: BLOCK_SIZE,
  tar_key: null,
  dxf_name: dxfName,
  created: '2026-12-04T00:00:00.000Z',
})
const env = { BUCKET: bucket, DB: buildsDatabase([row(1, 'dxf-1-01'), row(2, 'dxf-2-01')]) }
// The isolate's model cache holds A's model, as after any earlier training step.
const cachedA = await modelOfBuild(env, { orgId: ORG, appId: APP, buildId: 1 })
if (!cachedA) throw new Error('build 1 has no model')
const sampler = new PeakSampler(values.live as boolean)
const results: string[] = []

// planPatch alone: both block tables and B's image order, as loaded from R2.
{
  const inputs = () => ({
    a: bucket.get(keys.buildKeys(ORG, APP, 1).blocks),
    b: bucket.get(keys.buildKeys(ORG, APP, 2).blocks),
    order: bucket.get('work/2/image-list.bin'),
  })
  const bytesOf = async (object: ReturnType<typeof bucket.get>) => {
    const body = await object
    if (!body || !('arrayBuffer' in body)) throw new Error('a stored object is missing')
    return new Uint8Array(await body.arrayBuffer())
  }
  const run = async () => {
    const { a, b, order } = inputs()
    const orderBytes = await bytesOf(order)
    return planPatch(
      await bytesOf(a),
      await bytesOf(b),
      new Uint32Array(orderBytes.buffer),
    ) as PatchPlan
  }
  const measured = await sampler.measure(run)
  const plan = measured.result
  const ms = await timed(run)
  const inputBytes = blockCount * (2 * HASH_BYTES + 4)
  console.log(
    `planPatch: ${plan.newBlocks.length} new, ${plan.reusedBlocks} reused, ${plan.repeatedBlocks} repeated`,
  )
  results.push(
    `planPatch alone: peak growth ${mb(measured.peakGrowth)} (inputs ${mb(inputBytes)}); ${measured.samples} samples; ${ms.toFixed(0)} ms`,
  )
}

// mkraw's patch planning step, as patch-steps.ts calls it for build 2's first image.
{
  const target = {
    env,
    orgId: ORG,
    appId: APP,
    buildId: 2,
    image: {
      headerKey: 'work/2/image-header.bin',
      listKey: 'work/2/image-list.bin',
      tarKey: 'work/2/build.tar',
      geometryKey: 'work/2/geometry.bin',
      blockSize: BLOCK_SIZE,
      blockCount,
      totalBytes: store.totalB,
    },
    scratch: { header: () => 'work/2/patch-header.bin', list: () => 'work/2/patch-list.bin' },
  }
  const run = () => preparePatch(target, 1)
  await run() // warm: as the steps before it, so only the step's own memory counts
  const measured = await sampler.measure(run)
  const planned = measured.result as { kind: string; write?: { spec: { totalBytes: number } } }
  const ms = await timed(run)
  console.log(`preparePatch: ${planned.kind}, patch ${mb(planned.write?.spec.totalBytes ?? 0)}`)
  results.push(
    `patch planning step (preparePatch): peak growth ${mb(measured.peakGrowth)}; ${measured.samples} samples; ${ms.toFixed(0)} ms`,
  )
}

// Inheritance as carry.ts does it (mkraw's carried order calls it), then the coordinator's
// seeding of build 2, which stores what it inherited.
{
  const to = { buildId: 2, model: store.modelB }
  const run = () => inheritedStats(env, { orgId: ORG, appId: APP }, 1, to)
  await run() // warm: B's region layout is cached with its model in the service
  const measured = await sampler.measure(run)
  const stats = measured.result as BlockStats
  const traced = stats.count.reduce((n: number, c: number) => n + (c > 0 ? 1 : 0), 0)
  const ms = await timed(run)
  console.log(`inheritedStats: ${traced} blocks traced of ${stats.blockCount}`)
  results.push(
    `inheritance (inheritedStats): peak growth ${mb(measured.peakGrowth)}; ${measured.samples} samples; ${ms.toFixed(0)} ms`,
  )

  const log = { info() {}, warn() {}, error() {}, debug() {} }
  const statsB = keys.statsKey(ORG, APP, 2)
  const seed = async () => {
    bucket.delete(statsB)
    return followBuild(env, { orgId: ORG, appId: APP }, 1, 2, 1, log)
  }
  await seed() // warm: B's model and region layout cached, as earlier steps leave them
  const seeded = await sampler.measure(seed)
  const seedMs = await timed(seed)
  const figures = seeded.result as { nTraces: number; coverage: number }
  console.log(`followBuild: ${figures.nTraces} traces, coverage ${figures.coverage.toFixed(3)}`)
  results.push(
    `seeding a new build (followBuild: inherit, store): peak growth ${mb(seeded.peakGrowth)}; ${seeded.samples} samples; ${seedMs.toFixed(0)} ms`,
  )
}
await sampler.stop()
for (const line of results) console.log(line)
