/**
 * `npm run bench:import`: how the local service imports big builds (issue #3). For each size
 * (256 MiB, 1 GiB and 4 GiB of file data by default) it writes a game-like folder of files of
 * mixed sizes filled with seeded pseudo-random bytes, packs it with `rockit build pack`, starts
 * a fresh instance (own port, own state folder under the work folder), uploads the tar with
 * `uploadBuild` and follows the `mkraw` and `deploy` tasks, while it samples the memory of the
 * processes `wrangler dev` runs every 200 ms. It prints upload and mkraw throughput, the
 * end-to-end time and the peak memory per size, so the sizes can be compared.
 *
 * Options: --sizes 256M,1G,4G, --seed N (1), --block-size N (65536), --port N,
 * --work-dir <dir>, --timeout-min N (90 per size), --stall-min N (10), --keep, --json <file>.
 */
import { spawnSync } from 'node:child_process'
import { createCipheriv, createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import {
  mkdir,
  mkdtemp,
  open,
  readdir,
  readFile,
  rm,
  stat,
  statfs,
  writeFile,
} from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { ApiCallError, type ApiClient } from '../cli/api-client'
import { packBuild } from '../cli/commands/build-pack'
import { uploadBuild } from '../cli/commands/build-upload'
import { describeFailure, getTask, type TaskView } from '../cli/commands/task-wait'
import { formatBytes } from '../cli/progress'
import { freePort, type LocalService, setUpApp, startLocalService } from './demo'

const root = resolve(import.meta.dirname, '..')
const MiB = 2 ** 20
const GiB = 2 ** 30

/** `256M`, `1G`, `1.5G`, `65536` -> bytes (binary units). */
export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([KMG]?)i?B?$/i.exec(text.trim())
  if (!match) throw new Error(`${text} is not a size (like 256M or 4G)`)
  const unit = { '': 1, K: 1024, M: MiB, G: GiB }[match[2].toUpperCase() as '' | 'K' | 'M' | 'G']
  return Math.round(Number(match[1]) * unit)
}

/** `268435456` -> `256M`, for folder names and table rows. */
function sizeLabel(bytes: number): string {
  if (bytes % GiB === 0) return `${bytes / GiB}G`
  if (bytes % MiB === 0) return `${bytes / MiB}M`
  return String(bytes)
}

/**
 * A deterministic byte stream: AES-256-CTR over zeros, keyed by the seed and a label. Fast
 * (native), incompressible, and the same on every machine.
 */
function seededStream(seed: number, label: string) {
  const key = createHash('sha256').update(`rockit-bench-import/${seed}/${label}`).digest()
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16))
  return (length: number) => cipher.update(Buffer.alloc(length))
}

/** A seeded source of numbers in [0, 1). */
function seededRandom(seed: number, label: string): () => number {
  const bytes = seededStream(seed, label)
  return () => bytes(4).readUInt32LE(0) / 2 ** 32
}

/** A size between `low` and `high`, uniform in its logarithm (many small, few large). */
function logUniform(random: () => number, low: number, high: number): number {
  return Math.round(Math.exp(Math.log(low) + random() * (Math.log(high) - Math.log(low))))
}

/** One file of a generated build. */
export interface PlannedFile {
  path: string
  size: number
}

const smallFolders = ['scripts', 'config', 'shaders', 'locale', 'ui', 'maps/meta']
const smallKinds = ['lua', 'json', 'glsl', 'txt', 'xml', 'bin']
const mediumFolders = ['textures', 'audio', 'models', 'bin']
const mediumKinds = ['dds', 'ogg', 'mesh', 'so']

/**
 * The files of a game-like build with `dataBytes` of file data: about 70% in packs of 64 to
 * 448 MiB, 24% in files of 512 KiB to 24 MiB, the rest in small files of 64 B to 256 KiB (a
 * few thousand per GiB). The same seed and size give the same plan.
 */
export function planBuildFiles(dataBytes: number, seed: number): PlannedFile[] {
  const random = seededRandom(seed, `plan/${dataBytes}`)
  const files: PlannedFile[] = []
  let packBudget = Math.floor(dataBytes * 0.7)
  let mediumBudget = Math.floor(dataBytes * 0.24)
  let smallBudget = dataBytes - packBudget - mediumBudget

  for (let index = 0; packBudget > 0; index++) {
    let size = Math.min(logUniform(random, 96 * MiB, 448 * MiB), packBudget)
    if (packBudget - size < 64 * MiB) size = packBudget
    files.push({ path: `data/packs/pack-${String(index).padStart(3, '0')}.pak`, size })
    packBudget -= size
  }
  for (let index = 0; mediumBudget > 0; index++) {
    const kind = Math.floor(random() * mediumFolders.length)
    const size = Math.min(logUniform(random, 512 * 1024, 24 * MiB), mediumBudget)
    const name = `${mediumFolders[kind]}/set-${index % 16}/asset-${index}.${mediumKinds[kind]}`
    files.push({ path: name, size })
    mediumBudget -= size
  }
  for (let index = 0; smallBudget > 0; index++) {
    const kind = Math.floor(random() * smallFolders.length)
    const size = Math.min(logUniform(random, 64, 256 * 1024), smallBudget)
    const name = `${smallFolders[kind]}/group-${index % 32}/item-${index}.${smallKinds[kind]}`
    files.push({ path: name, size })
    smallBudget -= size
  }
  return files
}

/** Writes the planned files under `dir`, each with its own seeded bytes. */
export async function writeBuildFolder(dir: string, files: PlannedFile[], seed: number) {
  const chunk = 8 * MiB
  for (const file of files) {
    const target = join(dir, file.path)
    await mkdir(dirname(target), { recursive: true })
    const bytes = seededStream(seed, file.path)
    const handle = await open(target, 'w')
    try {
      for (let left = file.size; left > 0; left -= chunk) {
        await handle.write(bytes(Math.min(chunk, left)))
      }
    } finally {
      await handle.close()
    }
  }
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const piece of createReadStream(path, { highWaterMark: 4 * MiB })) hash.update(piece)
  return hash.digest('hex')
}

/** A process of the local service whose memory is sampled. */
export interface ServiceProcess {
  role: 'runtime' | 'proxy' | 'wrangler'
  pid: number
}

async function processTable(): Promise<Array<{ pid: number; ppid: number; args: string[] }>> {
  const table = []
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const statText = await readFile(`/proc/${name}/stat`, 'utf8')
      const ppid = Number(statText.slice(statText.lastIndexOf(')') + 2).split(' ')[1])
      const args = (await readFile(`/proc/${name}/cmdline`, 'utf8')).split('\0')
      table.push({ pid: Number(name), ppid, args })
    } catch {
      // the process ended while the table was read
    }
  }
  return table
}

/**
 * The processes of the `wrangler dev` serving `port`: wrangler itself (node), the workerd
 * that runs the Worker with its D1, R2, Queues and Durable Objects (`runtime`), and the
 * workerd of wrangler's proxy that listens on the port and forwards to it (`proxy`).
 */
export async function serviceProcesses(port: number): Promise<ServiceProcess[]> {
  const table = await processTable()
  const wrangler = table.find(
    (entry) =>
      entry.args.some((arg) => arg.endsWith('wrangler-dist/cli.js')) &&
      entry.args.includes(String(port)),
  )
  if (!wrangler) throw new Error(`no wrangler dev process serves port ${port}`)
  const found: ServiceProcess[] = [{ role: 'wrangler', pid: wrangler.pid }]
  for (const entry of table) {
    if (entry.ppid !== wrangler.pid || !entry.args[0]?.endsWith('/workerd')) continue
    const proxy = entry.args.some((arg) => arg.includes(`entry=127.0.0.1:${port}`))
    found.push({ role: proxy ? 'proxy' : 'runtime', pid: entry.pid })
  }
  if (!found.some((proc) => proc.role === 'runtime')) {
    throw new Error(`no workerd runtime under wrangler (pid ${wrangler.pid}) on port ${port}`)
  }
  return found
}

/** A process's memory (bytes, from `/proc/<pid>/status`), CPU time and state. */
export interface ProcessMemory {
  /** VmRSS: resident now. */
  rss: number
  /** VmHWM: the largest VmRSS since the process started. */
  hwm: number
  /** RssAnon: heap and other private memory (what a leak or a buffered body grows). */
  anon: number
  /** RssFile: resident pages of mapped files (SQLite and blob files of the local storage). */
  file: number
  /** CPU time used so far (user + system), seconds. */
  cpuSec: number
  /** State of the main thread: R running, S sleeping, D waiting for the disk. */
  state: string
  /** Where in the kernel the main thread waits, when it waits (`/proc/<pid>/wchan`). */
  wchan: string
}

/** Ticks per second of the CPU times in `/proc/<pid>/stat` (USER_HZ, 100 on Linux). */
const CLOCK_TICKS = 100

/** The memory of a process; undefined once it has ended. */
async function memoryOf(pid: number): Promise<ProcessMemory | undefined> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined)
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined)
  if (text === undefined || stat === undefined) return undefined
  // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const cpuSec = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
  const wchan = await readFile(`/proc/${pid}/wchan`, 'utf8').catch(() => '')
  const field = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024
  return {
    rss: field('VmRSS'),
    hwm: field('VmHWM'),
    anon: field('RssAnon'),
    file: field('RssFile'),
    cpuSec,
    state: fields[0],
    wchan: wchan === '0' ? '' : wchan,
  }
}

/** Bytes the kernel holds for writing to disk (`Dirty`) and is writing now (`Writeback`). */
async function pendingWrites(): Promise<{ dirty: number; writeback: number }> {
  const text = await readFile('/proc/meminfo', 'utf8')
  const field = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024
  return { dirty: field('Dirty'), writeback: field('Writeback') }
}

/** One memory sample: seconds since the sampler started, the phase, memory per role. */
export interface MemorySample {
  t: number
  phase: string
  memory: Partial<Record<ServiceProcess['role'], Omit<ProcessMemory, 'hwm'>>>
  /** The machine's pending disk writes, bytes. */
  dirty: number
  writeback: number
}

/** The largest VmRSS and RssAnon seen in one phase. */
export interface PhasePeak {
  rss: number
  anon: number
}

/** Samples the memory of the service's processes until stopped. */
export interface MemorySampler {
  phase: string
  samples: MemorySample[]
  /** Peaks per role and phase. */
  peaks: Record<string, Record<string, PhasePeak>>
  /** CPU seconds per role and phase (between samples, counted to the later sample's phase). */
  cpu: Record<string, Record<string, number>>
  /** Processes that vanished during the run (a restart or a crash). */
  lost: string[]
  /** Stops sampling and answers each role's memory at the end (VmHWM: its lifetime peak). */
  stop(): Promise<Record<string, ProcessMemory>>
}

/** Starts sampling `/proc/<pid>/status` of each process every `intervalMs`. */
export function sampleMemory(processes: ServiceProcess[], intervalMs = 200): MemorySampler {
  const started = Date.now()
  let running = true
  const sampler: MemorySampler = {
    phase: 'idle',
    samples: [],
    peaks: {},
    cpu: {},
    lost: [],
    async stop() {
      running = false
      await loop
      const last: Record<string, ProcessMemory> = {}
      for (const proc of processes) {
        const memory = await memoryOf(proc.pid)
        if (memory) last[proc.role] = memory
      }
      return last
    },
  }
  const gone = new Set<number>()
  const cpuBefore = new Map<number, number>()
  const take = async () => {
    const t = (Date.now() - started) / 1000
    const sample: MemorySample = { t, phase: sampler.phase, memory: {}, ...(await pendingWrites()) }
    for (const proc of processes) {
      const memory = await memoryOf(proc.pid)
      if (!memory) {
        if (!gone.has(proc.pid)) {
          gone.add(proc.pid)
          sampler.lost.push(`${proc.role} pid ${proc.pid} ended at ${t} s`)
        }
        continue
      }
      const { hwm: _, ...now } = memory
      sample.memory[proc.role] = now
      sampler.cpu[proc.role] ??= {}
      const used = memory.cpuSec - (cpuBefore.get(proc.pid) ?? memory.cpuSec)
      sampler.cpu[proc.role][sampler.phase] = (sampler.cpu[proc.role][sampler.phase] ?? 0) + used
      cpuBefore.set(proc.pid, memory.cpuSec)
      sampler.peaks[proc.role] ??= {}
      const peak = sampler.peaks[proc.role][sampler.phase] ?? { rss: 0, anon: 0 }
      sampler.peaks[proc.role][sampler.phase] = {
        rss: Math.max(peak.rss, memory.rss),
        anon: Math.max(peak.anon, memory.anon),
      }
    }
    sampler.samples.push(sample)
  }
  const loop = (async () => {
    while (running) {
      const next = Date.now() + intervalMs
      await take()
      await new Promise((done) => setTimeout(done, Math.max(0, next - Date.now())))
    }
  })()
  return sampler
}

/** How long the runtime waited for the disk or did nothing while the build was imported. */
export interface RuntimeWaits {
  /** Seconds its main thread was seen in state D (uninterruptible, mostly disk I/O). */
  diskWaitSec: number
  /** The longest unbroken stretch in state D, seconds. */
  longestDiskWaitSec: number
  /** Kernel functions it waited in while in state D, with how many samples each. */
  wchans: Record<string, number>
  /** The longest stretch without one tick of CPU time, seconds. */
  longestIdleSec: number
  /** The most the machine held for writing to disk at once (Dirty + Writeback), bytes. */
  maxPendingWrites: number
}

const BUSY_PHASES = new Set(['upload', 'scan', 'image', 'finish', 'deploy'])

/** Sums up {@link RuntimeWaits} from the samples of the phases that work on the build. */
export function runtimeWaits(samples: MemorySample[]): RuntimeWaits {
  const waits: RuntimeWaits = {
    diskWaitSec: 0,
    longestDiskWaitSec: 0,
    wchans: {},
    longestIdleSec: 0,
    maxPendingWrites: 0,
  }
  let waitStart: number | undefined
  let idleStart: number | undefined
  let lastCpu: number | undefined
  let previous: number | undefined
  for (const sample of samples) {
    const runtime = sample.memory.runtime
    if (!BUSY_PHASES.has(sample.phase) || !runtime) {
      waitStart = idleStart = lastCpu = previous = undefined
      continue
    }
    const step = previous === undefined ? 0 : sample.t - previous
    previous = sample.t
    waits.maxPendingWrites = Math.max(waits.maxPendingWrites, sample.dirty + sample.writeback)
    if (runtime.state === 'D') {
      waits.diskWaitSec += step
      waitStart ??= sample.t
      waits.longestDiskWaitSec = Math.max(waits.longestDiskWaitSec, sample.t - waitStart)
      const where = runtime.wchan || 'unknown'
      waits.wchans[where] = (waits.wchans[where] ?? 0) + 1
    } else {
      waitStart = undefined
    }
    if (lastCpu !== undefined && runtime.cpuSec === lastCpu) {
      idleStart ??= sample.t - step
      waits.longestIdleSec = Math.max(waits.longestIdleSec, sample.t - idleStart)
    } else {
      idleStart = undefined
    }
    lastCpu = runtime.cpuSec
  }
  return waits
}

/** A task with the times the API shows. */
type TimedTask = TaskView & { created: string; started: string | null; ended: string | null }

/** How the API answered the polls of a task: the longest wait for one answer. */
export interface PollStats {
  polls: number
  /** Polls that got no answer (the client's 300 s header timeout, or a refused connection). */
  unanswered: number
  longestSec: number
}

/** A task that stopped moving: no new progress for the stall limit. */
export class TaskStalled extends Error {
  override name = 'TaskStalled'
}

/**
 * Polls a task every 250 ms until it ends, calling `onView` with each view. A poll the
 * service does not answer is counted and tried again: a step that keeps the runtime busy
 * delays every request (workerd runs the Worker on one thread). Throws {@link TaskStalled}
 * when the task's progress has not moved for `stallMs`, and gives up after `timeoutMs`.
 */
async function watchTask(
  client: ApiClient,
  taskName: string,
  opts: {
    timeoutMs: number
    stallMs: number
    stats: PollStats
    onView?: (task: TimedTask) => void
  },
): Promise<TimedTask> {
  const deadline = Date.now() + opts.timeoutMs
  let last: TimedTask | undefined
  let moved = Date.now()
  let seen = ''
  for (;;) {
    const asked = Date.now()
    try {
      last = (await getTask(client, taskName)) as TimedTask
      opts.onView?.(last)
    } catch (error) {
      if (!(error instanceof ApiCallError) || error.status !== 0) throw error
      opts.stats.unanswered++
    }
    opts.stats.polls++
    opts.stats.longestSec = Math.max(opts.stats.longestSec, (Date.now() - asked) / 1000)
    if (last && last.state !== 'submitted' && last.state !== 'running') return last
    const now = `${last?.state} ${last?.progress}`
    if (now !== seen) {
      seen = now
      moved = Date.now()
    }
    const where = `${taskName} is ${last?.state ?? 'unknown'} at progress ${last?.progress ?? '?'}`
    if (Date.now() - moved > opts.stallMs) {
      throw new TaskStalled(
        `${where} and has not moved for ${Math.round((Date.now() - moved) / 1000)} s ` +
          `(${opts.stats.unanswered} polls unanswered, longest wait ${opts.stats.longestSec} s)`,
      )
    }
    if (Date.now() > deadline) throw new Error(`${where} after ${opts.timeoutMs / 1000} s`)
    await new Promise((done) => setTimeout(done, 250))
  }
}

/** CPU seconds the runtime used in the last `seconds` of samples: is it working or idle? */
function recentRuntimeCpu(samples: MemorySample[], seconds: number): number | undefined {
  const end = samples.at(-1)
  const from = end && samples.find((sample) => sample.t >= end.t - seconds)
  const last = end?.memory.runtime?.cpuSec
  const first = from?.memory.runtime?.cpuSec
  return last === undefined || first === undefined ? undefined : last - first
}

/** When mkraw's progress passed the end of the scan (0.4) and of the image (0.8), epoch ms. */
interface MkrawMarks {
  scanEnd?: number
  imageEnd?: number
}

/**
 * Follows the mkraw task to its end, naming its phase in the sampler (scan, image, finish)
 * from its progress: the scan is 0 to 0.4, the image 0.4 to 0.8 (docs/builds.md).
 */
async function followMkraw(
  client: ApiClient,
  taskName: string,
  opts: {
    sampler: MemorySampler
    stats: PollStats
    timeoutMs: number
    stallMs: number
    log: (line: string) => void
  },
): Promise<{ task: TimedTask; marks: MkrawMarks }> {
  const marks: MkrawMarks = {}
  let told = -1
  const task = await watchTask(client, taskName, {
    timeoutMs: opts.timeoutMs,
    stallMs: opts.stallMs,
    stats: opts.stats,
    onView(view) {
      if (view.progress >= 0.4 && marks.scanEnd === undefined) marks.scanEnd = Date.now()
      if (view.progress >= 0.8 && marks.imageEnd === undefined) marks.imageEnd = Date.now()
      opts.sampler.phase =
        marks.imageEnd !== undefined ? 'finish' : marks.scanEnd !== undefined ? 'image' : 'scan'
      const tenth = Math.floor(view.progress * 10)
      if (tenth !== told) {
        opts.log(`bench:   mkraw ${view.state} ${Math.round(view.progress * 100)}%`)
        told = tenth
      }
    },
  })
  return { task, marks }
}

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
  log?: (line: string) => void
}

/**
 * One size: generate, pack, start a fresh instance, import, measure, stop, and delete the
 * folder, the tar and the instance's state whatever happened.
 */
async function runOneImport(
  dataBytes: number,
  opts: Required<Omit<ImportBenchOptions, 'sizes' | 'port'>> & { port?: number },
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
        log,
      }),
    )
  }
  return result
}

const fixed = (value: number | undefined, digits = 1) =>
  value === undefined ? '-' : value.toFixed(digits)
const mib = (bytes: number | undefined) =>
  bytes === undefined ? '-' : `${Math.round(bytes / MiB)}`

/** CPU seconds the runtime used while mkraw ran. */
function mkrawCpu(run: ImportRun): number | undefined {
  const cpu = run.cpu.runtime
  if (!cpu || !run.mkraw) return undefined
  return (cpu.scan ?? 0) + (cpu.image ?? 0) + (cpu.finish ?? 0)
}

/** A markdown table of the figures and one of the memory, as printed and put in the docs. */
export function formatImportTables(result: ImportBenchResult): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`
  const head = [
    'build',
    'tar',
    'files',
    'PUT s',
    'PUT MiB/s',
    'mkraw s',
    'mkraw MiB/s',
    'scan s',
    'image s',
    'end-to-end s',
    'deploy s',
    'runtime CPU in mkraw s',
    'runtime in D s (longest)',
    'longest API wait s',
    'outcome',
  ]
  const speed = result.runs.map((run) =>
    line([
      run.label,
      formatBytes(run.tarBytes),
      String(run.files),
      fixed(run.upload?.seconds),
      fixed(run.upload?.mibPerSec, 0),
      fixed(run.mkraw?.seconds),
      fixed(run.mkraw?.mibPerSec, 0),
      fixed(run.mkraw?.scanSec),
      fixed(run.mkraw?.imageSec),
      fixed(run.endToEndSec),
      run.deploy?.state === 'succeeded' ? fixed(run.deploy.seconds) : (run.deploy?.state ?? '-'),
      fixed(mkrawCpu(run)),
      run.waits ? `${fixed(run.waits.diskWaitSec)} (${fixed(run.waits.longestDiskWaitSec)})` : '-',
      fixed(run.polls.longestSec),
      run.outcome,
    ]),
  )
  const memoryHead = [
    'build',
    'runtime idle',
    'upload',
    'scan',
    'image',
    'finish',
    'deploy',
    'runtime VmHWM',
    'proxy VmHWM',
    'wrangler VmHWM',
    'state on disk',
  ]
  const memory = result.runs.map((run) => {
    const runtime = run.peaks.runtime ?? {}
    return line([
      run.label,
      ...['idle', 'upload', 'scan', 'image', 'finish', 'deploy'].map((phase) =>
        runtime[phase] ? `${mib(runtime[phase].rss)} (${mib(runtime[phase].anon)})` : '-',
      ),
      mib(run.final.runtime?.hwm),
      mib(run.final.proxy?.hwm),
      mib(run.final.wrangler?.hwm),
      formatBytes(run.stateBytes),
    ])
  })
  const rule = (cells: string[]) => line(cells.map(() => '---'))
  return [
    line(head),
    rule(head),
    ...speed,
    '',
    'Peak VmRSS (RssAnon) of the runtime workerd per phase, and VmHWM per process, MiB:',
    '',
    line(memoryHead),
    rule(memoryHead),
    ...memory,
  ].join('\n')
}

const usage = `Usage: npm run bench:import -- [--sizes 256M,1G,4G] [--seed N] [--block-size N]
                            [--port N] [--work-dir dir] [--timeout-min N] [--stall-min N]
                            [--keep] [--json file]

Imports generated builds of each size into a fresh local instance and measures upload and
mkraw throughput, end-to-end time and the memory of the workerd runtime (docs/benchmarks.md).
  --sizes         file data per build, smallest first (default 256M,1G,4G)
  --seed N        seed of the generated files (default 1)
  --block-size N  the app's block size (default 65536, the service's default)
  --port N        port of the service (default: a free one)
  --work-dir dir  where tars and state go (default: a new folder in the temp folder)
  --timeout-min N how long mkraw and deploy may each take per size (default 90)
  --stall-min N   a task whose progress has not moved for N minutes counts as stalled (10)
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
