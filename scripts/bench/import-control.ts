/**
 * The control of the import benchmark: the Worker in `import-control/` (R2 only) under its own
 * `wrangler dev`, fed the same tar: one streamed `PUT` into a multipart upload with the
 * service's part size, then 64 MiB scan steps (ranged reads, every 64 KiB block hashed), then
 * 64 MiB image steps (8 MiB ranged reads uploaded as parts of a second object), each step one
 * request, as each mkraw step is one queue message. The runtime's memory is sampled as for the
 * service; if it grows the same way here, the growth is the runtime's and not the service's.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, stat } from 'node:fs/promises'
import { request } from 'node:http'
import { join, resolve } from 'node:path'
import { stripVTControlCharacters } from 'node:util'
import { MiB } from './import-build'
import { findInspectorPort, type IsolatePhase, sampleIsolateHeap } from './import-isolate'
import {
  type MemorySampler,
  type PhasePeak,
  type ProcessMemory,
  sampleMemory,
  serviceProcesses,
} from './import-memory'

const root = resolve(import.meta.dirname, '..', '..')
const controlDir = join(import.meta.dirname, 'import-control')

/** Bytes per step, as the service's default `stepBytes`. */
const STEP_BYTES = 64 * MiB

/** What the control measured for one tar. */
export interface ControlRun {
  tarBytes: number
  putSec?: number
  scanSec?: number
  imageSec?: number
  /** Largest VmRSS and RssAnon per role and phase, bytes. */
  peaks: Record<string, Record<string, PhasePeak>>
  final: Record<string, ProcessMemory>
  /** The control Worker's own isolate, per phase. */
  isolate: Record<string, IsolatePhase>
  isolateUnanswered: number
  error?: string
}

/** A `wrangler dev` of the control Worker on `port`, state under `stateDir`. */
async function startControl(port: number, stateDir: string, logFile: string) {
  const child: ChildProcess = spawn(
    join(root, 'node_modules', '.bin', 'wrangler'),
    [
      'dev',
      '--local',
      '--ip',
      '127.0.0.1',
      '--port',
      String(port),
      '--config',
      join(controlDir, 'wrangler.toml'),
      '--persist-to',
      stateDir,
      '--show-interactive-dev-session=false',
    ],
    {
      cwd: controlDir,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        WRANGLER_SEND_METRICS: 'false',
        WRANGLER_SEND_ERROR_REPORTS: 'false',
        CLOUDFLARE_CF_FETCH_ENABLED: 'false',
        FORCE_COLOR: '0',
      },
    },
  )
  const log = createWriteStream(logFile)
  let output = ''
  const take = (chunk: Buffer) => {
    log.write(chunk)
    output = (output + chunk.toString()).slice(-100_000)
  }
  child.stdout?.on('data', take)
  child.stderr?.on('data', take)
  const exited = new Promise<void>((done) => child.on('exit', () => done()))
  const stop = async () => {
    if (child.exitCode === null && child.pid) {
      process.kill(-child.pid, 'SIGTERM')
      const killed = setTimeout(() => {
        if (child.exitCode === null && child.pid) process.kill(-child.pid, 'SIGKILL')
      }, 10_000)
      await exited
      clearTimeout(killed)
    }
    await new Promise((done) => log.end(done))
  }
  const deadline = Date.now() + 120_000
  while (!/Ready on/.test(output)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop()
      const tail = stripVTControlCharacters(output).split('\n').slice(-20).join('\n')
      throw new Error(`the control Worker did not start:\n${tail}`)
    }
    await new Promise((done) => setTimeout(done, 200))
  }
  return { stop }
}

/** Sends one request to the control on loopback and answers its JSON. */
function call(
  port: number,
  method: string,
  path: string,
  body?: { file: string; bytes: number } | string,
): Promise<Record<string, unknown>> {
  return new Promise((done, fail) => {
    const headers: Record<string, string | number> = {}
    if (typeof body === 'object') headers['content-length'] = body.bytes
    if (typeof body === 'string') headers['content-type'] = 'application/json'
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (response) => {
      let text = ''
      response.setEncoding('utf8')
      response.on('data', (chunk) => {
        text += chunk
      })
      response.on('end', () => {
        if (response.statusCode !== 200) fail(new Error(`${method} ${path}: ${text.trim()}`))
        else done(JSON.parse(text))
      })
    })
    req.on('error', fail)
    if (typeof body === 'object') createReadStream(body.file, { highWaterMark: MiB }).pipe(req)
    else req.end(body)
  })
}

/** Runs the control on `tar`: store, scan, image, with the memory sampled per phase. */
export async function runControl(
  tar: string,
  opts: { dir: string; port: number; log: (line: string) => void },
): Promise<ControlRun> {
  const tarBytes = (await stat(tar)).size
  const stateDir = join(opts.dir, 'control-state')
  await mkdir(stateDir, { recursive: true })
  const run: ControlRun = { tarBytes, peaks: {}, final: {}, isolate: {}, isolateUnanswered: 0 }
  const control = await startControl(opts.port, stateDir, join(opts.dir, 'control.log'))
  let sampler: MemorySampler | undefined
  let heap: ReturnType<typeof sampleIsolateHeap> | undefined
  try {
    const processes = await serviceProcesses(opts.port)
    sampler = sampleMemory(processes)
    const watched = sampler
    const runtime = processes.find((proc) => proc.role === 'runtime')
    const inspector = runtime && (await findInspectorPort(runtime.pid))
    const poke = () => {
      fetch(`http://127.0.0.1:${opts.port}/`)
        .then((response) => response.body?.cancel())
        .catch(() => {})
    }
    if (inspector) heap = sampleIsolateHeap({ port: inspector, phase: () => watched.phase, poke })
    await new Promise((done) => setTimeout(done, 2000))

    sampler.phase = 'upload'
    let mark = Date.now()
    const stored = await call(opts.port, 'PUT', '/store?key=build.tar', {
      file: tar,
      bytes: tarBytes,
    })
    if (stored.size !== tarBytes) throw new Error(`the control stored ${stored.size} bytes`)
    run.putSec = (Date.now() - mark) / 1000
    opts.log(`bench:   control PUT ${run.putSec.toFixed(1)} s`)

    sampler.phase = 'scan'
    mark = Date.now()
    for (let offset = 0; offset < tarBytes; offset += STEP_BYTES) {
      const length = Math.min(STEP_BYTES, tarBytes - offset)
      await call(opts.port, 'POST', `/scan?key=build.tar&offset=${offset}&length=${length}`)
    }
    run.scanSec = (Date.now() - mark) / 1000
    opts.log(`bench:   control scan ${run.scanSec.toFixed(1)} s`)

    sampler.phase = 'image'
    mark = Date.now()
    const partSize = Math.max(8 * MiB, Math.ceil(tarBytes / 10_000 / MiB) * MiB)
    let upload = ''
    const parts: unknown[] = []
    for (let offset = 0; offset < tarBytes; offset += STEP_BYTES) {
      const length = Math.min(STEP_BYTES, tarBytes - offset)
      const query =
        `key=build.tar&to=image.bin&offset=${offset}&length=${length}&partSize=${partSize}` +
        `&part=${parts.length + 1}${upload ? `&upload=${encodeURIComponent(upload)}` : ''}`
      const step = await call(opts.port, 'POST', `/copy?${query}`)
      upload = String(step.upload)
      parts.push(...(step.parts as unknown[]))
    }
    const query = `to=image.bin&upload=${encodeURIComponent(upload)}&complete=1`
    const copied = await call(opts.port, 'POST', `/copy?${query}`, JSON.stringify(parts))
    if (copied.size !== tarBytes) throw new Error(`the control copied ${copied.size} bytes`)
    run.imageSec = (Date.now() - mark) / 1000
    opts.log(`bench:   control image ${run.imageSec.toFixed(1)} s`)
    sampler.phase = 'after'
    await new Promise((done) => setTimeout(done, 2000))
  } catch (error) {
    run.error = (error as Error).message
    opts.log(`bench:   control FAILED: ${run.error}`)
  } finally {
    if (heap) {
      await heap.stop()
      run.isolate = heap.phases
      run.isolateUnanswered = heap.unanswered
    }
    if (sampler) {
      run.final = await sampler.stop()
      run.peaks = sampler.peaks
    }
    await control.stop()
  }
  return run
}
