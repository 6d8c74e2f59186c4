/**
 * Time of blank lines in a trace upload: N MiB of "\n" before the header, against the same
 * after it. It runs the service's own code in Node: the upload path (`readTrace` of
 * src/domain/traces/read-trace.ts, the function `POST /client/v1/traces` hands the body to,
 * plain and gzip) and the engine alone (`parseTrace`). The body streams in 64 KiB chunks.
 *
 *   npx tsx scripts/bench/trace-blank-lines.ts [--mib N] [--runs N] [--src DIR]
 *
 * `--src` loads another checkout of src (say a copy of an older revision's src, with
 * node_modules linked beside it), to compare revisions. Prints the best of `--runs` (3) per
 * case, in seconds.
 */
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { gzipSync } from 'node:zlib'
import type { BuildModel } from '../../src/engine/build-model'

const CHUNK_BYTES = 64 * 1024

const { values } = parseArgs({
  options: {
    mib: { type: 'string', default: '8' },
    runs: { type: 'string', default: '3' },
    src: { type: 'string', default: resolve(import.meta.dirname, '../../src') },
  },
})
const mib = Number(values.mib)
const runs = Number(values.runs)
const src = resolve(values.src)

const load = (path: string) => import(pathToFileURL(resolve(src, path)).href)
const { buildModel } = await load('engine/build-model.ts')
const { parseTrace } = await load('engine/trace-parse.ts')
const { readTrace } = await load('domain/traces/read-trace.ts')

const model: BuildModel = buildModel(1024, [
  { path: 'a.bin', size: 4096, firstBlock: 0, blockCount: 4 },
])
const header = JSON.stringify({ format: 'rockit-trace/1', sessionId: 's', durationMs: 10 })
const blank = '\n'.repeat(mib * 1024 * 1024)
const encode = (text: string) => new TextEncoder().encode(text)
const read = '[0,"a.bin",0,1]\n'
const before = encode(`${blank}${header}\n${read}`)
const after = encode(`${header}\n${blank}${read}`)

function chunks(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let at = 0
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close()
      controller.enqueue(bytes.slice(at, at + CHUNK_BYTES))
      at += CHUNK_BYTES
    },
  })
}

const limits = { maxBytes: 64 * 1024 * 1024, maxReads: 2_000_000 }
const upload = (bytes: Uint8Array) => readTrace(chunks(bytes), async () => ({ model }), limits)
const engine = (bytes: Uint8Array) => parseTrace(chunks(bytes), { model })

async function best(run: () => Promise<{ headerLine: number; reads: number }>) {
  let fastest = Number.POSITIVE_INFINITY
  for (let i = 0; i < runs; i++) {
    const start = performance.now()
    const parsed = await run()
    fastest = Math.min(fastest, (performance.now() - start) / 1000)
    if (parsed.reads !== 1) throw new Error(`expected one read, got ${parsed.reads}`)
  }
  return fastest.toFixed(2)
}

const beforeGz = new Uint8Array(gzipSync(before))
const afterGz = new Uint8Array(gzipSync(after))
console.log(`src ${src}, ${mib} MiB of blank lines, best of ${runs} runs (s)`)
console.log('case                    before header  after header')
console.log(
  `upload path, plain      ${(await best(() => upload(before))).padStart(13)}  ${(await best(() => upload(after))).padStart(12)}`,
)
console.log(
  `upload path, gzip       ${(await best(() => upload(beforeGz))).padStart(13)}  ${(await best(() => upload(afterGz))).padStart(12)}`,
)
console.log(
  `engine (parseTrace)     ${(await best(() => engine(before))).padStart(13)}  ${(await best(() => engine(after))).padStart(12)}`,
)
