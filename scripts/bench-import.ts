/**
 * `npm run bench:import`: how the local service imports big builds (issue #3). For each size
 * (256 MiB, 1 GiB and 4 GiB of file data by default) it writes a game-like folder of files of
 * mixed sizes filled with seeded pseudo-random bytes, packs it with `rockit build pack`, starts
 * a fresh instance (own port, own state folder under the work folder), uploads the tar with
 * `uploadBuild` and follows the `mkraw` and `deploy` tasks, while it samples the memory of the
 * processes `wrangler dev` runs every 200 ms and the Worker's own heap through the runtime's
 * inspector every second (after a full collection every 10 s). With `--control` it then feeds
 * the same tar to a control Worker that only moves bytes through R2 (`bench/import-control/`).
 * It prints upload and mkraw throughput, the end-to-end time and the memory per size and phase.
 *
 * Options: --sizes 256M,1G,4G, --seed N (1), --block-size N (65536), --port N,
 * --work-dir <dir>, --timeout-min N (90 per size), --stall-min N (10), --control, --keep,
 * --json <file>. The parts live in scripts/bench/import-*.ts.
 */
import { spawnSync } from 'node:child_process'
import { mkdir, mkdtemp, rm, stat, statfs, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { packBuild } from '../cli/commands/build-pack'
import { uploadBuild } from '../cli/commands/build-upload'
import { describeFailure } from '../cli/commands/task-wait'
import { formatBytes } from '../cli/progress'
import {
  GiB,
  MiB,
  parseSize,
  planBuildFiles,
  sha256OfFile,
  sizeLabel,
  writeBuildFolder,
} from './bench/import-build'
import { type ControlRun, runControl } from './bench/import-control'
import {
  findInspectorPort,
  type HeapReading,
  type IsolatePhase,
  type IsolateSampler,
  type SimulatorHeaps,
  sampleIsolateHeap,
  sampleSimulatorHeaps,
} from './bench/import-isolate'
import {
  type MemorySample,
  type MemorySampler,
  type PhasePeak,
  type ProcessMemory,
  type RuntimeWaits,
  runtimeWaits,
  sampleMemory,
  serviceProcesses,
} from './bench/import-memory'
import { formatImportTables } from './bench/import-report'
import {
  followMkraw,
  type PollStats,
  recentRuntimeCpu,
  TaskStalled,
  watchTask,
} from './bench/import-tasks'
import { freePort, type LocalService, setUpApp, startLocalService } from './demo'

export { parseSize, planBuildFiles, writeBuildFolder } from './bench/import-build'

const root = resolve(import.meta.dirname, '..')

/** Bytes used under a folder (what `du -sb` says), 0 when it is gone. */
function diskUse(dir: string): number {
  const du = spawnSync('du', ['-sb', dir], { encoding: 'utf8' })
  return du.status === 0 ? Number(du.stdout.split('\t')[0]) : 0
}

const seconds = (from: string | null, to: string | null) =>
  from && to ? (Date.parse(to) - Date.parse(from)) / 1000 : undefined

/** What one size measured. */
export interface ImportRun {
  label: string
  dataBytes: number
  files: number
  tarBytes: number
  tarSha256: string
  generateSec: number
  packSec: number
  upload?: { seconds: number; mibPerSec: number }
  mkraw?: {
    taskName: string
    state: string
    seconds?: number
    mibPerSec?: number
    scanSec?: number
    imageSec?: number
    finishSec?: number
    result?: Record<string, unknown> | null
    exception?: Record<string, unknown> | null
  }
  deploy?: { taskName: string; state: string; seconds?: number }
  /** From the POST that creates the build to the end of mkraw (the task's `ended`). */
  endToEndSec?: number
  /** CPU seconds per role and phase. */
  cpu: Record<string, Record<string, number>>
  /** Largest VmRSS and RssAnon per role and phase, bytes. */
  peaks: Record<string, Record<string, PhasePeak>>
  /** Memory per role after the run (a fresh instance, so VmHWM is the run's peak). */
  final: Record<string, ProcessMemory>
  lost: string[]
  /** Disk waits and idle stretches of the runtime while it worked on the build. */
  waits?: RuntimeWaits
  /** Polls of the mkraw and deploy tasks: how long the API kept a request waiting. */
  polls: PollStats
  stateBytes: number
  samples: MemorySample[]
  /**
   * The Worker's own isolate through the runtime's inspector: heap and array buffers per phase,
   * the calls it did not answer in time, and why the last one failed.
   */
  isolate?: {
    target?: string
    sessions: number
    phases: Record<string, IsolatePhase>
    readings: HeapReading[]
    unanswered: number
    lastError?: string
  }
  /** Miniflare's simulators (every other isolate) summed: peak per phase, largest each. */
  simulators?: { peaks: Record<string, number>; largest: Record<string, number> }
  /** The control Worker fed the same tar (with `--control`). */
  control?: ControlRun
  error?: string
  /** The machine's 1-minute load average when the import started and when it ended. */
  load: { before: number; after?: number }
  /** `ok`, or what went wrong in a few words (for the table). */
  outcome: string
  logFile: string
}

/** Options of {@link runImportBench}. */
export interface ImportBenchOptions {
  sizes?: number[]
  seed?: number
  blockSize?: number
  port?: number
  workDir?: string
  /** Per size, for mkraw and deploy. */
  timeoutMs?: number
  /** How long a task may show no progress before it counts as stalled. */
  stallMs?: number
  /** Also run the control Worker on each tar. */
  control?: boolean
  log?: (line: string) => void
}

/**
 * One size: generate, pack, start a fresh instance, import, measure, stop, and delete the
 * folder, the tar and the instance's state whatever happened.
 */
async function runOneImport(
  dataBytes: number,
  opts: Required<Omit<ImportBenchOptions, 'sizes' | 'port' | 'control'>> & {
    port?: number
    control?: boolean
  },
): Promise<ImportRun> {
  const { log } = opts
  const label = sizeLabel(dataBytes)
  const dir = join(opts.workDir, label)
  const folder = join(dir, 'build')
  const tar = join(dir, `build-${label}.tar`)
  const stateDir = join(dir, 'state')
  await mkdir(dir, { recursive: true })

  const plan = planBuildFiles(dataBytes, opts.seed)
  log(`bench: ${label}: writing ${plan.length} files (${formatBytes(dataBytes)}) in ${folder}`)
  let mark = Date.now()
  let generateSec = 0
  let packSec = 0
  try {
    await writeBuildFolder(folder, plan, opts.seed)
    generateSec = (Date.now() - mark) / 1000
    mark = Date.now()
    await packBuild({ dir: folder, out: tar })
    packSec = (Date.now() - mark) / 1000
  } catch (error) {
    await rm(tar, { force: true })
    throw error
  } finally {
    await rm(folder, { recursive: true, force: true })
  }
  const tarBytes = (await stat(tar)).size
  const tarSha256 = await sha256OfFile(tar)
  log(`bench: ${label}: ${tar} ${formatBytes(tarBytes)}, sha256 ${tarSha256.slice(0, 16)}...`)

  const run: ImportRun = {
    label,
    dataBytes,
    files: plan.length,
    tarBytes,
    tarSha256,
    generateSec,
    packSec,
    peaks: {},
    cpu: {},
    final: {},
    lost: [],
    polls: { polls: 0, unanswered: 0, longestSec: 0 },
    stateBytes: 0,
    samples: [],
    logFile: join(dir, 'service.log'),
    outcome: 'ok',
    load: { before: loadavg()[0] },
  }
  let service: LocalService | undefined
  let sampler: MemorySampler | undefined
  let heap: IsolateSampler | undefined
  let simulators: SimulatorHeaps | undefined
  let stage = 'service start'
  try {
    const port = opts.port ?? (await freePort())
    service = await startLocalService({ port, stateDir, logFile: run.logFile })
    const processes = await serviceProcesses(port)
    log(
      `bench: ${label}: service on ${service.url}; sampling ` +
        processes.map((proc) => `${proc.role} ${proc.pid}`).join(', '),
    )
    sampler = sampleMemory(processes)
    const watched = sampler
    const runtime = processes.find((proc) => proc.role === 'runtime')
    const inspector = runtime && (await findInspectorPort(runtime.pid))
    // No poke: the polls and the nudge of `npm start` (every 5 s) keep the isolate running.
    if (inspector) {
      heap = sampleIsolateHeap({ port: inspector, phase: () => watched.phase })
      simulators = sampleSimulatorHeaps({ port: inspector, phase: () => watched.phase })
    } else {
      log(`bench: ${label}: the runtime's inspector was not found; no isolate figures`)
    }
    await new Promise((done) => setTimeout(done, 2000))
    sampler.phase = 'setup'
    const { publisher, appName } = await setUpApp({
      url: service.url,
      orgName: 'bench',
      appName: 'game',
      blockSize: opts.blockSize,
      training: {},
    })

    sampler.phase = 'upload'
    stage = 'upload'
    const begin = Date.now()
    const uploaded = await uploadBuild(publisher, { tar, appName, wait: false, log: false })
    run.upload = {
      seconds: uploaded.seconds,
      mibPerSec: tarBytes / MiB / Math.max(uploaded.seconds, 0.001),
    }
    log(
      `bench: ${label}: PUT ${uploaded.seconds.toFixed(1)} s (${run.upload.mibPerSec.toFixed(0)} MiB/s)`,
    )

    stage = 'mkraw'
    const { task, marks } = await followMkraw(publisher, uploaded.mkrawTaskName, {
      sampler,
      stats: run.polls,
      timeoutMs: opts.timeoutMs,
      stallMs: opts.stallMs,
      log,
    })
    const mkrawSec = seconds(task.started, task.ended)
    const startedMs = task.started ? Date.parse(task.started) : Date.now()
    const endedMs = task.ended ? Date.parse(task.ended) : Date.now()
    // The service's clock is this machine's; a poll answers only between two steps, so a mark
    // can be one step late and is capped at the end of the task.
    const scanEnd = Math.min(marks.scanEnd ?? endedMs, endedMs)
    const imageEnd = Math.min(marks.imageEnd ?? endedMs, endedMs)
    run.endToEndSec = (endedMs - begin) / 1000
    run.mkraw = {
      taskName: task.taskName,
      state: task.state,
      seconds: mkrawSec,
      mibPerSec: mkrawSec ? tarBytes / MiB / mkrawSec : undefined,
      scanSec: (scanEnd - startedMs) / 1000,
      imageSec: (imageEnd - scanEnd) / 1000,
      finishSec: (endedMs - imageEnd) / 1000,
      result: task.result,
      exception: task.exception,
    }
    if (task.state !== 'succeeded') throw new Error(describeFailure(task))
    log(
      `bench: ${label}: mkraw ${mkrawSec?.toFixed(1)} s (${run.mkraw.mibPerSec?.toFixed(0)} MiB/s)`,
    )

    const deployTaskName = task.result?.deployTaskName
    if (typeof deployTaskName === 'string') {
      sampler.phase = 'deploy'
      stage = 'deploy'
      run.deploy = { taskName: deployTaskName, state: 'running' }
      const deploy = await watchTask(publisher, deployTaskName, {
        timeoutMs: opts.timeoutMs,
        stallMs: opts.stallMs,
        stats: run.polls,
      }).catch((error) => {
        if (error instanceof TaskStalled && run.deploy) run.deploy.state = 'stalled'
        throw error
      })
      run.deploy = {
        taskName: deployTaskName,
        state: deploy.state,
        seconds: seconds(deploy.started, deploy.ended),
      }
      if (deploy.state !== 'succeeded') throw new Error(describeFailure(deploy))
      log(`bench: ${label}: deploy ${run.deploy.seconds?.toFixed(1)} s`)
    }
    sampler.phase = 'after'
    await new Promise((done) => setTimeout(done, 2000))
  } catch (error) {
    run.error = (error as Error).message
    run.outcome = `${stage} ${error instanceof TaskStalled ? 'stalled' : 'failed'}`
    if (error instanceof TaskStalled && sampler) {
      const window = Math.min(120, opts.stallMs / 1000)
      const cpu = recentRuntimeCpu(sampler.samples, window)
      run.error += `; the runtime used ${cpu?.toFixed(2)} s of CPU in the last ${window} s`
    }
    if (service) run.error += `\n--- last lines of ${run.logFile} ---\n${service.tail(25)}`
    log(`bench: ${label}: FAILED: ${run.error}`)
  } finally {
    if (simulators) {
      await simulators.stop()
      run.simulators = { peaks: simulators.peaks, largest: simulators.largest }
    }
    if (heap) {
      await heap.stop()
      const { target, sessions, phases, readings, unanswered, lastError } = heap
      run.isolate = { target, sessions, phases, readings, unanswered, lastError }
      const last = readings.findLast((reading) => reading.afterGc)
      const retained = last ? `${formatBytes(last.used + last.buffers)} in ${last.phase}` : '-'
      log(
        `bench: ${label}: Worker isolate after its last collection: ${retained} ` +
          `(${unanswered} inspector calls unanswered, ${sessions} sessions)`,
      )
    }
    if (sampler) {
      run.final = await sampler.stop()
      run.peaks = sampler.peaks
      run.cpu = sampler.cpu
      run.lost = sampler.lost
      run.samples = sampler.samples
      run.waits = runtimeWaits(sampler.samples)
    }
    run.load.after = loadavg()[0]
    run.stateBytes = diskUse(stateDir)
    await service?.stop()
    await rm(stateDir, { recursive: true, force: true })
    if (opts.control && run.upload) {
      log(`bench: ${label}: control Worker on the same tar`)
      const port = opts.port ?? (await freePort())
      run.control = await runControl(tar, { dir, port, log })
      await rm(join(dir, 'control-state'), { recursive: true, force: true })
    }
    await rm(tar, { force: true })
    await rm(folder, { recursive: true, force: true })
  }
  return run
}

/** Everything the benchmark measured, with the machine it ran on. */
export interface ImportBenchResult {
  date: string
  command: string
  machine: { nproc: number; cpuModel: string; free: string; node: string; wrangler: string }
  commit: string
  seed: number
  blockSize: number
  runs: ImportRun[]
  workDir: string
}

function machineInfo(): ImportBenchResult['machine'] {
  const free = spawnSync('free', ['-h'], { encoding: 'utf8' }).stdout.trim()
  const wranglerVersion = spawnSync(join(root, 'node_modules', '.bin', 'wrangler'), ['--version'], {
    encoding: 'utf8',
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
  })
  return {
    nproc: Number(spawnSync('nproc', { encoding: 'utf8' }).stdout.trim()) || cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    free,
    node: process.version,
    wrangler: wranglerVersion.stdout.trim().split('\n').pop() ?? 'unknown',
  }
}

/**
 * Disk the largest size needs at once: the folder and its tar while packing, then the tar, the
 * stored tar, the image and the deployed copy in the state folder, and some room.
 */
export function diskNeeded(sizes: number[]): number {
  return 5 * Math.max(...sizes) + GiB
}

/** Runs every size in turn (smallest first) and answers the figures. */
export async function runImportBench(opts: ImportBenchOptions = {}): Promise<ImportBenchResult> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`))
  const sizes = [...(opts.sizes ?? [256 * MiB, GiB, 4 * GiB])].sort((a, b) => a - b)
  const workDir = opts.workDir ?? (await mkdtemp(join(tmpdir(), 'rockit-bench-import-')))
  await mkdir(workDir, { recursive: true })
  const disk = await statfs(workDir)
  const free = disk.bavail * disk.bsize
  if (free < diskNeeded(sizes)) {
    throw new Error(
      `${workDir} has ${formatBytes(free)} free; the ${sizeLabel(Math.max(...sizes))} build ` +
        `needs about ${formatBytes(diskNeeded(sizes))}: free space or choose --work-dir`,
    )
  }
  log(`bench: ${formatBytes(free)} free in ${workDir}`)
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' })
  const result: ImportBenchResult = {
    date: new Date().toISOString(),
    command: `npm run bench:import -- ${process.argv.slice(2).join(' ')}`.trim(),
    machine: machineInfo(),
    commit: git.stdout.trim() || 'unknown',
    seed: opts.seed ?? 1,
    blockSize: opts.blockSize ?? 65_536,
    runs: [],
    workDir,
  }
  for (const size of sizes) {
    result.runs.push(
      await runOneImport(size, {
        seed: result.seed,
        blockSize: result.blockSize,
        port: opts.port,
        workDir,
        timeoutMs: opts.timeoutMs ?? 90 * 60_000,
        stallMs: opts.stallMs ?? 10 * 60_000,
        control: opts.control,
        log,
      }),
    )
  }
  return result
}

const usage = `Usage: npm run bench:import -- [--sizes 256M,1G,4G] [--seed N] [--block-size N]
                            [--port N] [--work-dir dir] [--timeout-min N] [--stall-min N]
                            [--control] [--keep] [--json file]

Imports generated builds of each size into a fresh local instance and measures upload and
mkraw throughput, end-to-end time and the memory of the workerd runtime (docs/benchmarks.md).
  --sizes         file data per build, smallest first (default 256M,1G,4G)
  --seed N        seed of the generated files (default 1)
  --block-size N  the app's block size (default 65536, the service's default)
  --port N        port of the service (default: a free one)
  --work-dir dir  where tars and state go (default: a new folder in the temp folder)
  --timeout-min N how long mkraw and deploy may each take per size (default 90)
  --stall-min N   a task whose progress has not moved for N minutes counts as stalled (10)
  --control       also feed each tar to the control Worker (R2 only, scripts/bench/import-control)
  --keep          keep the work folder (service logs); tars and state are always removed
  --json file     write the figures and every memory sample`

async function main(): Promise<number> {
  let values: Record<string, string | boolean | undefined>
  let sizes: number[] | undefined
  try {
    values = parseArgs({
      options: {
        sizes: { type: 'string' },
        seed: { type: 'string' },
        'block-size': { type: 'string' },
        port: { type: 'string' },
        'work-dir': { type: 'string' },
        'timeout-min': { type: 'string' },
        'stall-min': { type: 'string' },
        control: { type: 'boolean' },
        keep: { type: 'boolean' },
        json: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values
    if (values.help) {
      process.stdout.write(`${usage}\n`)
      return 0
    }
    sizes = values.sizes ? String(values.sizes).split(',').map(parseSize) : undefined
    for (const name of ['seed', 'block-size', 'port', 'timeout-min', 'stall-min']) {
      if (values[name] !== undefined && !/^\d+$/.test(values[name] as string)) {
        throw new Error(`--${name} takes a whole number`)
      }
    }
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n\n${usage}\n`)
    return 2
  }
  const number = (name: string) => (values[name] ? Number(values[name]) : undefined)
  try {
    const result = await runImportBench({
      sizes,
      seed: number('seed'),
      blockSize: number('block-size'),
      port: number('port'),
      workDir: values['work-dir'] as string | undefined,
      timeoutMs: values['timeout-min'] ? Number(values['timeout-min']) * 60_000 : undefined,
      stallMs: values['stall-min'] ? Number(values['stall-min']) * 60_000 : undefined,
      control: values.control === true,
    })
    const { machine } = result
    process.stdout.write(
      `\nBuild import on ${machine.nproc} cores (${machine.cpuModel}), node ${machine.node}, ` +
        `wrangler ${machine.wrangler}, commit ${result.commit}, ${result.date}\n` +
        `${machine.free}\n\n${formatImportTables(result)}\n`,
    )
    for (const run of result.runs) {
      process.stdout.write(
        `\n${run.label}: load average ${run.load.before.toFixed(1)} -> ` +
          `${run.load.after?.toFixed(1)}; tar sha256 ${run.tarSha256}`,
      )
      if (run.mkraw?.result) {
        const image = run.mkraw.result.image as { sha256?: string } | undefined
        process.stdout.write(`, image sha256 ${image?.sha256 ?? '-'}`)
      }
      if (run.lost.length) process.stdout.write(`; processes lost: ${run.lost.join('; ')}`)
      if (run.error) process.stdout.write(`\n${run.label} FAILED: ${run.error}`)
    }
    process.stdout.write('\n')
    if (values.json) await writeFile(String(values.json), `${JSON.stringify(result, null, 1)}\n`)
    const failed = result.runs.some((run) => run.error)
    if (!values.keep && !failed) await rm(result.workDir, { recursive: true, force: true })
    else process.stdout.write(`work folder (service logs) kept in ${result.workDir}\n`)
    return failed ? 1 : 0
  } catch (error) {
    process.stderr.write(`\nbench failed: ${(error as Error).stack ?? String(error)}\n`)
    return 1
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  main().then((code) => {
    process.exitCode = code
  })
}
