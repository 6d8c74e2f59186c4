/**
 * Memory of the processes `wrangler dev` runs, from /proc: which processes serve a port, and a
 * sampler of their resident memory, CPU time and state every 200 ms, with peaks per phase.
 */
import { readdir, readFile } from 'node:fs/promises'

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
