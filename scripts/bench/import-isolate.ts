/**
 * The Worker's own heap during the import benchmark, read through the local runtime's inspector
 * (the workerd started by `wrangler dev` lists one target per isolate: the Worker is
 * `core:user:<name>`, beside Miniflare's simulators). Every second it asks the Worker's isolate
 * for `Runtime.getHeapUsage`; every 10 seconds it first asks for `HeapProfiler.collectGarbage`
 * (V8 runs it as a task once the isolate next runs, which a light request makes sure of), so the
 * usage right after is what the isolate retains. Every call has a timeout: a busy isolate is
 * counted as unanswered and never blocks the benchmark.
 */
import { readdir, readFile, readlink } from 'node:fs/promises'
import { CdpSession, listTargets } from './import-cdp'

/** One answer of `Runtime.getHeapUsage`, bytes. */
export interface HeapReading {
  /** Seconds since the sampler started. */
  t: number
  phase: string
  /** V8 heap in use (JS objects). */
  used: number
  /** Backing stores of ArrayBuffers (typed arrays, stream chunks), outside the V8 heap. */
  buffers: number
  /** True when a full garbage collection ran just before. */
  afterGc: boolean
}

/** What one phase saw of the Worker's isolate, bytes. */
export interface IsolatePhase {
  /** Largest `used + buffers` of any reading. */
  peak: number
  /** Largest `used` and `buffers` of any reading (not necessarily at the same moment). */
  peakUsed: number
  peakBuffers: number
  /** Smallest, largest and last `used + buffers` right after a collection. */
  retainedMin?: number
  retainedMax?: number
  retainedLast?: number
  readings: number
  collections: number
}

/** Samples the heap of one isolate until stopped. */
export interface IsolateSampler {
  readings: HeapReading[]
  phases: Record<string, IsolatePhase>
  /** Calls that timed out or failed, and why the last one did. */
  unanswered: number
  lastError?: string
  /** The target sampled, once found. */
  target?: string
  /** Sessions opened: more than one means another client took the isolate's inspector. */
  sessions: number
  /** Collects once more (waiting up to `timeoutMs`) and stops. */
  stop(timeoutMs?: number): Promise<void>
}

/** TCP ports a process listens on, in the order of its file descriptors. */
export async function listeningPorts(pid: number): Promise<number[]> {
  const inodes: string[] = []
  const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[])
  for (const fd of fds.sort((a, b) => Number(a) - Number(b))) {
    const link = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')
    const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1]
    if (inode) inodes.push(inode)
  }
  const listening = new Map<string, number>()
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(table, 'utf8').catch(() => '')
    for (const line of text.split('\n').slice(1)) {
      const cells = line.trim().split(/\s+/)
      // local address, state (0A: LISTEN), inode
      if (cells.length < 10 || cells[3] !== '0A') continue
      listening.set(cells[9], Number.parseInt(cells[1].split(':')[1], 16))
    }
  }
  return inodes.flatMap((inode) => (listening.has(inode) ? [listening.get(inode) as number] : []))
}

/**
 * The inspector port of the workerd runtime `pid` (started with `--inspector-addr`): the
 * listening port whose `/json` lists a `core:user:` isolate. Ports are tried in the order the
 * process opened them; workerd opens the inspector's first, so the others are rarely touched.
 */
export async function findInspectorPort(pid: number): Promise<number | undefined> {
  for (const port of await listeningPorts(pid)) {
    const targets = await listTargets(port, 1000)
    if (targets?.some((target) => target.id.startsWith('core:user:'))) return port
  }
  return undefined
}

const total = (reading: HeapReading) => reading.used + reading.buffers

function record(phases: Record<string, IsolatePhase>, reading: HeapReading) {
  phases[reading.phase] ??= { peak: 0, peakUsed: 0, peakBuffers: 0, readings: 0, collections: 0 }
  const phase = phases[reading.phase]
  phase.readings++
  phase.peak = Math.max(phase.peak, total(reading))
  phase.peakUsed = Math.max(phase.peakUsed, reading.used)
  phase.peakBuffers = Math.max(phase.peakBuffers, reading.buffers)
  if (reading.afterGc) {
    phase.collections++
    phase.retainedMin = Math.min(phase.retainedMin ?? Number.POSITIVE_INFINITY, total(reading))
    phase.retainedMax = Math.max(phase.retainedMax ?? 0, total(reading))
    phase.retainedLast = total(reading)
  }
}

/**
 * Starts sampling the isolate whose id starts with `targetPrefix` (the Worker's by default) on
 * the inspector at `port`. `phase()` names the phase a reading belongs to (when it is read).
 */
export function sampleIsolateHeap(opts: {
  port: number
  phase: () => string
  targetPrefix?: string
  intervalMs?: number
  gcEveryMs?: number
  timeoutMs?: number
  gcTimeoutMs?: number
  /**
   * Sends the Worker a light request. V8 runs a requested collection as a task of the isolate,
   * which an idle isolate never runs: each collection pokes it.
   */
  poke?: () => void
}): IsolateSampler {
  const prefix = opts.targetPrefix ?? 'core:user:'
  const intervalMs = opts.intervalMs ?? 1000
  const gcEveryMs = opts.gcEveryMs ?? 10_000
  const timeoutMs = opts.timeoutMs ?? 2000
  const gcTimeoutMs = opts.gcTimeoutMs ?? 10_000
  const started = Date.now()
  let running = true
  let session: CdpSession | undefined
  let lastGc = 0
  let wake: (() => void) | undefined

  const sampler: IsolateSampler = {
    readings: [],
    phases: {},
    unanswered: 0,
    sessions: 0,
    async stop(finalTimeoutMs = 15_000) {
      running = false
      wake?.()
      await loop
      await read(true, finalTimeoutMs).catch(() => {})
      session?.close()
    },
  }

  const connect = async () => {
    if (session?.isOpen) return session
    session?.close()
    const target = (await listTargets(opts.port))?.find((entry) => entry.id.startsWith(prefix))
    if (!target) throw new Error(`no ${prefix}* isolate on the inspector at port ${opts.port}`)
    sampler.target = target.id
    session = await CdpSession.open(target.webSocketDebuggerUrl, timeoutMs)
    sampler.sessions++
    return session
  }

  async function read(collect: boolean, waitMs: number) {
    const cdp = await connect()
    if (collect) {
      const collected = cdp.send('HeapProfiler.collectGarbage', {}, waitMs)
      opts.poke?.()
      await collected
    }
    const usage = await cdp.send('Runtime.getHeapUsage', {}, timeoutMs)
    const reading: HeapReading = {
      t: (Date.now() - started) / 1000,
      phase: opts.phase(),
      used: Number(usage.usedSize ?? 0),
      buffers: Number(usage.backingStorageSize ?? 0),
      afterGc: collect,
    }
    sampler.readings.push(reading)
    record(sampler.phases, reading)
  }

  const loop = (async () => {
    while (running) {
      const next = Date.now() + intervalMs
      const collect = Date.now() - lastGc >= gcEveryMs
      try {
        await read(collect, collect ? gcTimeoutMs : timeoutMs)
      } catch (error) {
        sampler.unanswered++
        sampler.lastError = (error as Error).message
        // A late answer finds no caller and is dropped; the session stays.
      }
      if (collect) lastGc = Date.now()
      await new Promise<void>((done) => {
        wake = done
        setTimeout(done, Math.max(0, next - Date.now()))
      })
    }
  })()
  return sampler
}

/** The simulators' isolates (every target but the Worker's) summed, per phase, bytes. */
export interface SimulatorHeaps {
  /** Largest sum of heap and array buffers over all of them, per phase. */
  peaks: Record<string, number>
  /** Largest reading of each isolate over the run. */
  largest: Record<string, number>
  stop(): Promise<void>
}

/**
 * Reads `Runtime.getHeapUsage` of every isolate but the Worker's every `intervalMs` (no
 * collection: they are read as they are), to tell the simulators' memory from the runtime's.
 */
export function sampleSimulatorHeaps(opts: {
  port: number
  phase: () => string
  intervalMs?: number
  timeoutMs?: number
}): SimulatorHeaps {
  const sessions = new Map<string, CdpSession>()
  let running = true
  const result: SimulatorHeaps = {
    peaks: {},
    largest: {},
    async stop() {
      running = false
      await loop
      for (const session of sessions.values()) session.close()
    },
  }
  const readAll = async () => {
    const targets = (await listTargets(opts.port)) ?? []
    let sum = 0
    for (const target of targets) {
      if (target.id.startsWith('core:user:')) continue
      try {
        let session = sessions.get(target.id)
        if (!session?.isOpen) {
          session = await CdpSession.open(target.webSocketDebuggerUrl, opts.timeoutMs ?? 2000)
          sessions.set(target.id, session)
        }
        const usage = await session.send('Runtime.getHeapUsage', {}, opts.timeoutMs ?? 2000)
        const bytes = Number(usage.usedSize ?? 0) + Number(usage.backingStorageSize ?? 0)
        result.largest[target.id] = Math.max(result.largest[target.id] ?? 0, bytes)
        sum += bytes
      } catch {
        return // a busy runtime: skip this round rather than count part of it
      }
    }
    const phase = opts.phase()
    result.peaks[phase] = Math.max(result.peaks[phase] ?? 0, sum)
  }
  const loop = (async () => {
    while (running) {
      const next = Date.now() + (opts.intervalMs ?? 5000)
      await readAll()
      await new Promise((done) => setTimeout(done, Math.max(0, next - Date.now())))
    }
  })()
  return result
}
