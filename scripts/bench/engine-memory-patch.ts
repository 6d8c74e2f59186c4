/**
 * Memory and time of patch planning and training inheritance at 1.6 M blocks (a 100 GB build
 * of 64 KiB blocks), against a Worker's 128 MB. Synthetic builds A and B share 90 % of their
 * blocks; B renames a tenth of A's files, so part of the matching goes through the hash index.
 *
 *   node --expose-gc --import tsx scripts/bench/engine-memory-patch.ts [--blocks N] [--seed S]
 *     [--engine DIR]
 *
 * Memory is `process.memoryUsage()` heapUsed + arrayBuffers. A worker thread samples it every
 * 2 ms through an inspector session on the main thread, whose messages run as interrupts, so
 * the peak is seen inside synchronous engine calls too. Growth is over a baseline taken after
 * a full GC with the inputs in place. `--engine` loads another checkout of src/engine (say
 * `git archive <rev> src/engine | tar -x -C /tmp/old`), to compare revisions.
 */
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { Worker } from 'node:worker_threads'
import type { BlockStats } from '../../src/engine/block-stats'
import type { BuildFile, BuildModel } from '../../src/engine/build-model'
import type { PatchPlan } from '../../src/engine/patch'

const BLOCK_SIZE = 64 * 1024
const HASH_BYTES = 16
const MB = 1e6

const { values } = parseArgs({
  options: {
    blocks: { type: 'string', default: '1600000' },
    seed: { type: 'string', default: '1' },
    engine: { type: 'string', default: resolve(import.meta.dirname, '../../src/engine') },
    runs: { type: 'string', default: '3' },
  },
})
const blockCount = Number(values.blocks)
const engineDir = resolve(values.engine as string)
const load = (name: string) => import(pathToFileURL(`${engineDir}/${name}.ts`).href)
const { buildModel, modelIndex } = await load('build-model')
const { emptyStats, encodeStats, decodeStats } = await load('block-stats')
const { planPatch } = await load('patch')
const inherit = await load('stats-inherit')

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

/** Game-like files: 1 % packs of 2,000 to 12,000 blocks, the rest 1 to 40 blocks. */
function filesOf(total: number): BuildFile[] {
  const files: BuildFile[] = []
  for (let firstBlock = 0; firstBlock < total; ) {
    const wanted = below(100) === 0 ? 2000 + below(10_000) : 1 + below(40)
    const count = Math.min(wanted, total - firstBlock)
    const size = count * BLOCK_SIZE - below(BLOCK_SIZE)
    files.push({ path: `data/${files.length}.bin`, size, firstBlock, blockCount: count })
    firstBlock += count
  }
  return files
}

/** A and B as R2 would hold them: file tables, block tables, A's statistics blob, B's order. */
function synthesise() {
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
  const orderB = Uint32Array.from({ length: blockCount }, (_, i) => i)
  for (let i = blockCount - 1; i > 0; i--) {
    const j = below(i + 1)
    ;[orderB[i], orderB[j]] = [orderB[j], orderB[i]]
  }
  const modelA: BuildModel = buildModel(BLOCK_SIZE, filesA)
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
  const statsBlobA: Uint8Array = encodeStats(statsA)
  return { filesA, filesB, hashesA, hashesB, orderB, statsBlobA }
}

/** Peak of heapUsed + arrayBuffers on this thread, sampled from a worker thread. */
class PeakSampler {
  private readonly worker: Worker

  constructor() {
    ;(globalThis as { __memoryProbe?: () => number }).__memoryProbe = used
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

console.log(`blocks ${blockCount}, seed ${values.seed}, engine ${engineDir}`)
const store = synthesise()
await settle()
const beforeModels = used()
const modelA: BuildModel = buildModel(BLOCK_SIZE, store.filesA)
const modelB: BuildModel = buildModel(BLOCK_SIZE, store.filesB)
modelIndex(modelA)
modelIndex(modelB)
await settle()
const modelBytes = used() - beforeModels
console.log(
  `files ${store.filesA.length}; both models (files, block -> file): ${(modelBytes / MB).toFixed(1)} MB`,
)

/** What R2 hands a Worker: a fresh copy of the stored bytes. */
const fetched = (bytes: Uint8Array) => bytes.slice()
const sampler = new PeakSampler()

// Patch planning, as preparePatch does it: both block tables and B's image order loaded.
const patchInputs = () => ({
  a: fetched(store.hashesA),
  b: fetched(store.hashesB),
  order: fetched(new Uint8Array(store.orderB.buffer)),
})
const planned = await sampler.measure(() => {
  const { a, b, order } = patchInputs()
  const plan: PatchPlan = planPatch(a, b, new Uint32Array(order.buffer))
  return plan
})
const inputBytes = 2 * blockCount * HASH_BYTES + 4 * blockCount
const plan = planned.result
console.log(
  `planPatch: ${plan.newBlocks.length} new, ${plan.reusedBlocks} reused, ${plan.repeatedBlocks} repeated`,
)
{
  const { a, b, order } = patchInputs()
  const ms = await timed(() => planPatch(a, b, new Uint32Array(order.buffer)))
  console.log(
    `  peak growth ${(planned.peakGrowth / MB).toFixed(1)} MB, of which inputs ${(inputBytes / MB).toFixed(1)} MB and planPatch ${((planned.peakGrowth - inputBytes) / MB).toFixed(1)} MB; ${planned.samples} samples; ${ms.toFixed(0)} ms`,
  )
}

// Inheritance, as carry.ts does it: one buffer takes A's block table, B's is streamed (R2 hands
// a body in chunks; 64 KiB here); then the same buffer takes A's statistics, which are copied.
const STREAM_CHUNK = 64 * 1024
const streaming = typeof inherit.InheritanceMatcher === 'function'
async function carry(collectBetween = false): Promise<BlockStats> {
  if (!streaming) {
    const stats = decodeStats(fetched(store.statsBlobA))
    return inherit.inheritStats(
      modelA,
      fetched(store.hashesA),
      stats,
      modelB,
      fetched(store.hashesB),
    )
  }
  const buffer = new Uint8Array(Math.max(store.hashesA.length, store.statsBlobA.length))
  buffer.set(store.hashesA)
  const matcher = new inherit.InheritanceMatcher(
    modelA,
    buffer.subarray(0, store.hashesA.length),
    modelB,
  )
  for (let at = 0; at < store.hashesB.length; at += STREAM_CHUNK) {
    matcher.push(store.hashesB.slice(at, at + STREAM_CHUNK))
    if ((at / STREAM_CHUNK) % 64 === 0) await Promise.resolve()
  }
  const sources = matcher.finish()
  await Promise.resolve()
  if (collectBetween) await settle()
  buffer.set(store.statsBlobA)
  const stats = decodeStats(buffer.subarray(0, store.statsBlobA.length))
  return inherit.inheritStatsFrom(modelA, stats, modelB, sources)
}
const carried = await sampler.measure(() => carry())
const inheritedBlocks = carried.result.count.reduce(
  (n: number, c: number) => n + (c > 0 ? 1 : 0),
  0,
)
const ms = await timed(() => carry())
console.log(
  `inheritance (${streaming ? 'two phases, one buffer' : 'one call'}): ${inheritedBlocks} blocks traced`,
)
console.log(
  `  peak growth ${(carried.peakGrowth / MB).toFixed(1)} MB (+ ${(modelBytes / MB).toFixed(1)} MB models = ${((carried.peakGrowth + modelBytes) / MB).toFixed(1)} MB); ${carried.samples} samples; ${ms.toFixed(0)} ms`,
)
if (streaming) {
  const live = await sampler.measure(() => carry(true))
  console.log(
    `  with a full GC between the phases (live memory only): peak growth ${(live.peakGrowth / MB).toFixed(1)} MB`,
  )
}
await sampler.stop()
