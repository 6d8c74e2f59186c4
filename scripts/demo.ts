/**
 * `npm run demo`: the whole loop on this machine, with a real program. It starts the service
 * (own port, temp state), sets up an org, a machine user, a deployment and an app, packs the
 * TypeScript compiler's folder (node_modules/typescript) as the build, records real sessions
 * of `tsc` under strace on generated projects that pull in different lib files, uploads most
 * of them, waits until the service has learnt and published a better image by itself, fetches
 * that image from the depot like a launcher (every file checked byte for byte) and measures
 * preload and time to play on the sessions it never saw.
 *
 * Options: --sessions N (16), --held-out N (4), --port N, --keep (keep the work folder),
 * --json <file> (write the figures, for docs/benchmarks.md and scripts/plot-svg.ts).
 */

import { type ChildProcess, spawn } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { cpus, freemem, tmpdir, totalmem } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs, stripVTControlCharacters } from 'node:util'
import { ApiClient, login } from '../cli/api-client'
import { mintAdminToken } from '../cli/commands/admin-token'
import { createApp, type TrainingSettings } from '../cli/commands/app-create'
import { packBuild } from '../cli/commands/build-pack'
import { uploadBuild } from '../cli/commands/build-upload'
import { createDeployment } from '../cli/commands/deployment-create'
import { bestSharedNote, evaluateImage, type ImageEvaluation } from '../cli/commands/eval'
import { formatReport, REPORT_MBITS } from '../cli/commands/eval-report'
import { type FetchedImage, fetchImage } from '../cli/commands/image-fetch'
import { createOrg } from '../cli/commands/org-create'
import { describeFailure, type TaskView } from '../cli/commands/task-wait'
import { recordTrace, writeTrace } from '../cli/commands/trace-record'
import { uploadTrace } from '../cli/commands/trace-upload'
import { createUser } from '../cli/commands/user-create'
import { formatBytes } from '../cli/progress'
import { failureMessage } from './bench/preload-bench-cli'
import { splitSessions } from './bench/session-split'
import { targetVerdicts } from './bench/targets'

const root = resolve(import.meta.dirname, '..')

/** A step of the demo that failed: which one, and why. */
export class DemoStepError extends Error {
  override name = 'DemoStepError'
  constructor(
    readonly step: string,
    override readonly cause: unknown,
  ) {
    const why = cause instanceof Error ? cause.message : String(cause)
    super(`step "${step}" failed: ${why}`)
  }
}

/** Runs one named step, turning any failure into a {@link DemoStepError}. */
export async function step<T>(name: string, log: (line: string) => void, run: () => Promise<T>) {
  log(`demo: ${name}`)
  try {
    return await run()
  } catch (error) {
    throw error instanceof DemoStepError ? error : new DemoStepError(name, error)
  }
}

/** A free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolvePort(port))
    })
  })
}

/** A running local instance of the service. */
export interface LocalService {
  url: string
  logFile: string
  /** The last lines of its output, for failure messages. */
  tail(lines?: number): string
  stop(): Promise<void>
}

/**
 * Starts the service with scripts/start.ts on its own port and state folder and resolves once
 * wrangler says `Ready on`. Its output goes to `logFile`.
 */
export async function startLocalService(opts: {
  port: number
  stateDir: string
  logFile: string
  readyTimeoutMs?: number
}): Promise<LocalService> {
  const child: ChildProcess = spawn(
    join(root, 'node_modules', '.bin', 'tsx'),
    ['scripts/start.ts'],
    {
      cwd: root,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        PORT: String(opts.port),
        PERSIST_TO: opts.stateDir,
        WRANGLER_SEND_METRICS: 'false',
        WRANGLER_SEND_ERROR_REPORTS: 'false',
        CLOUDFLARE_CF_FETCH_ENABLED: 'false',
        FORCE_COLOR: '0',
      },
    },
  )
  const log = createWriteStream(opts.logFile)
  let output = ''
  const take = (chunk: Buffer) => {
    log.write(chunk)
    output = (output + chunk.toString()).slice(-200_000)
  }
  child.stdout?.on('data', take)
  child.stderr?.on('data', take)
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)))
  const tail = (lines = 30) =>
    stripVTControlCharacters(output).trimEnd().split('\n').slice(-lines).join('\n')

  const stop = async () => {
    if (child.exitCode === null && child.pid) {
      // The whole group: start.ts, wrangler and workerd.
      process.kill(-child.pid, 'SIGTERM')
      const killed = setTimeout(() => {
        if (child.exitCode === null && child.pid) process.kill(-child.pid, 'SIGKILL')
      }, 10_000)
      await exited
      clearTimeout(killed)
    }
    await new Promise((done) => log.end(done))
  }

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 120_000)
  while (!/Ready on/.test(output)) {
    if (child.exitCode !== null) {
      await stop()
      throw new Error(`the service exited (code ${child.exitCode}) before it was ready:\n${tail()}`)
    }
    if (Date.now() > deadline) {
      await stop()
      throw new Error(
        `the service was not ready after ${opts.readyTimeoutMs ?? 120_000} ms:\n${tail()}`,
      )
    }
    await new Promise((done) => setTimeout(done, 200))
  }
  return { url: `http://127.0.0.1:${opts.port}`, logFile: opts.logFile, tail, stop }
}

/** A seeded PRNG (mulberry32), so the same sessions are generated on every machine. */
function seeded(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = Math.imul(state ^ (state >>> 15), state | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}

const pick = <T>(random: () => number, values: readonly T[]): T =>
  values[Math.floor(random() * values.length)]

/** Source snippets: each leans on different parts of the standard library. */
const snippets = [
  ['export function add(a: number, b: number): number {', '  return a + b', '}'],
  [
    "export const table = new Map<string, number>([['a', 1]])",
    'export const keys = new Set(table.keys())',
  ],
  [
    'export async function later(value: number): Promise<number> {',
    '  return await Promise.resolve(value)',
    '}',
  ],
  ['export function* count(n: number) {', '  for (let i = 0; i < n; i++) yield i', '}'],
  ['export const big = 2n ** 64n'],
  [
    'export class Point {',
    '  constructor(public x: number, public y: number) {}',
    '  norm() {',
    '    return Math.hypot(this.x, this.y)',
    '  }',
    '}',
  ],
  ["export const node = document.createElement('div')", "node.textContent = 'hello'"],
  ["export const label = new Intl.NumberFormat('de-DE').format(1234.5)"],
  ['export const last = [1, 2, 3].at(-1)', 'export const flat = [[1], [2]].flat()'],
  ["export const text = 'a-b-c'.replaceAll('-', '+')"],
  [
    "export const entries = Object.fromEntries([['a', 1]])",
    "export const owns = Object.hasOwn(entries, 'a')",
  ],
  ['export const ref = new WeakRef({ id: 1 })'],
  ["export const fetched = fetch('https://example.invalid/').then((r) => r.status)"],
  ['export const wrong: string = 42'],
  ['export const sorted = [3, 1, 2].toSorted((a, b) => a - b)'],
  ["self.postMessage('ready')"],
].map((lines) => lines.join('\n'))

/** One generated session: a small project and the tsc command line that compiles it. */
export interface SessionPlan {
  name: string
  dir: string
  args: string[]
}

/**
 * Writes session `index`'s project: a few source files and a tsc command line with its own
 * target, libs, module system, JSX mode and message language, so sessions read different lib
 * and locale files of the compiler.
 */
export async function planSession(workDir: string, index: number): Promise<SessionPlan> {
  const random = seeded(1000 + index)
  const name = `session-${String(index + 1).padStart(2, '0')}`
  const dir = join(workDir, 'projects', name)
  await mkdir(dir, { recursive: true })

  const target = pick(random, ['es5', 'es2015', 'es2017', 'es2019', 'es2020', 'es2022', 'esnext'])
  const lib = pick(random, [
    undefined,
    'es2015,dom',
    'es2020,dom,dom.iterable',
    'esnext,webworker',
    'es5,scripthost',
    'es2022',
    'es2017,dom',
    'es2023,dom',
  ])
  const module = pick(random, ['commonjs', 'esnext', 'node16', 'amd', 'system', 'es2015'])
  const jsx = pick(random, [undefined, undefined, 'react', 'preserve', 'react-jsx'])
  const locale = pick(random, [
    undefined,
    undefined,
    'de',
    'fr',
    'ja',
    'es',
    'ko',
    'zh-cn',
    'ru',
    'it',
  ])

  const files: string[] = []
  const count = 2 + Math.floor(random() * 4)
  for (let i = 0; i < count; i++) {
    const file = `part${i}.ts`
    await writeFile(join(dir, file), `${pick(random, snippets)}\n`)
    files.push(file)
  }
  if (jsx) {
    await writeFile(join(dir, 'view.tsx'), 'export const view = <div className="x">hello</div>\n')
    files.push('view.tsx')
  }

  const args = ['--target', target, '--module', module, '--outDir', 'out']
  if (module === 'node16') args.push('--moduleResolution', 'node16')
  if (lib) args.push('--lib', lib)
  if (jsx) args.push('--jsx', jsx)
  if (locale) args.push('--locale', locale)
  if (random() < 0.5) args.push('--strict')
  if (random() < 0.3) args.push('--declaration')
  if (random() < 0.3) args.push('--noEmit')
  return { name, dir, args: [...args, ...files] }
}

/** A recorded session: its trace file and how the run went. */
export interface RecordedSession {
  name: string
  file: string
  reads: number
  files: number
  durationMs: number
}

/**
 * Runs `tsc` (node on lib/tsc.js of the build folder) under strace for each planned session
 * and writes each trace, gzip, under `workDir/traces`.
 */
export async function recordSessions(opts: {
  buildDir: string
  workDir: string
  count: number
  log: (line: string) => void
}): Promise<RecordedSession[]> {
  await mkdir(join(opts.workDir, 'traces'), { recursive: true })
  const sessions: RecordedSession[] = []
  for (let index = 0; index < opts.count; index++) {
    const plan = await planSession(opts.workDir, index)
    const trace = await recordTrace({
      root: opts.buildDir,
      command: [process.execPath, join(opts.buildDir, 'lib', 'tsc.js'), ...plan.args],
      cwd: plan.dir,
      stdio: 'ignore',
      sessionId: `demo-${plan.name}-${Date.now()}`,
    })
    if (trace.reads.length === 0) {
      throw new Error(`${plan.name}: tsc read nothing of ${opts.buildDir} (exit ${trace.exitCode})`)
    }
    const file = join(opts.workDir, 'traces', `${plan.name}.ndjson.gz`)
    await writeTrace(file, trace.header, trace.reads)
    const files = new Set(trace.reads.map((read) => read[1])).size
    sessions.push({
      name: plan.name,
      file,
      reads: trace.reads.length,
      files,
      durationMs: trace.header.durationMs,
    })
    opts.log(
      `demo:   ${plan.name}: tsc ${plan.args.filter((arg) => arg.startsWith('--')).join(' ')}: ` +
        `${trace.header.durationMs} ms, ${trace.reads.length} reads of ${files} files`,
    )
  }
  return sessions
}

/** An org, machine user, deployment and app made for the demo, and clients to use them. */
export interface DemoSetup {
  orgName: string
  appName: string
  /** Calls as the machine user (API key). */
  publisher: ApiClient
  /** Calls as a launcher (trace key). */
  launcher: ApiClient
}

/** Creates the org, its machine user, an r2 deployment and the app with `training`. */
export async function setUpApp(opts: {
  url: string
  orgName: string
  appName: string
  blockSize: number
  training: TrainingSettings
}): Promise<DemoSetup> {
  const admin = new ApiClient({ url: opts.url, adminToken: await mintAdminToken('demo') })
  const { password } = await createOrg(admin, {
    orgName: opts.orgName,
    admin: { username: 'owner', email: 'owner@example.com' },
  })
  const owner = await login(
    new ApiClient({ url: opts.url, org: opts.orgName, user: 'owner' }),
    password,
  )
  const { apiKey } = await createUser(owner, {
    username: 'publisher',
    machine: true,
    label: 'demo publisher',
    roles: ['Administrators'],
  })
  if (!apiKey) throw new Error('creating the machine user answered no apiKey')
  const publisher = new ApiClient({
    url: opts.url,
    org: opts.orgName,
    user: 'publisher',
    apiKey,
  })
  await createDeployment(publisher, {
    name: 'local',
    label: 'the instance bucket',
    originPrefix: 'demo',
    origin: { type: 'r2' },
  })
  const { traceKey } = await createApp(publisher, {
    name: opts.appName,
    label: 'TypeScript compiler',
    blockSize: opts.blockSize,
    deployments: ['local'],
    training: opts.training,
  })
  const launcher = new ApiClient({ url: opts.url, org: opts.orgName, traceKey })
  return { orgName: opts.orgName, appName: opts.appName, publisher, launcher }
}

/** The app fields the demo follows. */
interface AppState {
  state: string
  dxfName: string | null
  iCurBuild: number | null
  error?: string
}

export async function getApp(client: ApiClient, appName: string): Promise<AppState> {
  const { body } = await client.call<{ app: AppState }>({
    method: 'GET',
    path: `/be/v1/apps/${appName}`,
    auth: 'user',
  })
  return body.app
}

/** The training detail of an app (counters, runs). */
export async function getTraining(client: ApiClient, appName: string) {
  const { body } = await client.call<{ training: Record<string, unknown> & { runs?: unknown[] } }>({
    method: 'GET',
    path: `/be/v1/trainings/${appName}`,
    auth: 'user',
  })
  return body.training
}

async function appTasks(client: ApiClient, appName: string): Promise<TaskView[]> {
  const { body } = await client.call<{ items: TaskView[] }>({
    method: 'GET',
    path: `/be/v1/tasks?appName=${appName}&limit=100`,
    auth: 'user',
  })
  return body.items.filter((task) => task.appName === appName)
}

/**
 * Waits until the app is quiet (no task submitted or running, state idle) with a current
 * image; with `changedFrom`, until that image differs from it. Fails early on a failed task.
 */
export async function waitForApp(
  client: ApiClient,
  appName: string,
  opts: { changedFrom?: string | null; timeoutMs: number; log: (line: string) => void },
): Promise<AppState> {
  const deadline = Date.now() + opts.timeoutMs
  let quietPolls = 0
  let seen = ''
  for (;;) {
    const [app, tasks] = await Promise.all([getApp(client, appName), appTasks(client, appName)])
    const failed = tasks.find((task) => task.state === 'failed')
    if (failed) throw new Error(describeFailure(failed))
    const active = tasks.filter((task) => task.state === 'submitted' || task.state === 'running')
    const summary = active.map((task) => `${task.type} ${task.state}`).join(', ')
    if (summary !== seen && summary) opts.log(`demo:   ${summary}`)
    seen = summary
    const ready =
      active.length === 0 &&
      app.state === 'idle' &&
      app.dxfName !== null &&
      (opts.changedFrom === undefined || app.dxfName !== opts.changedFrom)
    // A quiet moment may be the gap before the coordinator's debounced next run: look twice.
    quietPolls = ready ? quietPolls + 1 : 0
    if (quietPolls >= 3) return app
    if (Date.now() > deadline) {
      throw new Error(
        `after ${opts.timeoutMs / 1000} s the app is ${app.state} with image ${app.dxfName}` +
          (summary ? ` and tasks ${summary}` : ' and no task running') +
          (opts.changedFrom !== undefined
            ? `; waiting for an image other than ${opts.changedFrom}`
            : ''),
      )
    }
    await new Promise((done) => setTimeout(done, 1000))
  }
}

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** The program folder packed as the build. Default node_modules/typescript. */
  buildDir?: string
  sessions?: number
  heldOut?: number
  blockSize?: number
  training?: TrainingSettings
  port?: number
  /** Work folder (traces, tar, fetched image, service state). Default: a new temp folder. */
  workDir?: string
  keep?: boolean
  /** Bandwidths of the figures in Mbit/s. */
  mbits?: number[]
  /** How long processing may take, ms. Default 10 minutes. */
  processTimeoutMs?: number
  log?: (line: string) => void
}

/** Everything the demo measured. */
export interface DemoResult {
  date: string
  machine: { cpus: number; cpuModel: string; memoryGiB: number; freeGiB: number; node: string }
  build: { dir: string; tarBytes: number; files: number; blockSize: number }
  sessions: RecordedSession[]
  uploaded: string[]
  heldOut: string[]
  nativeDxfName: string
  dxfName: string
  fetched: Pick<
    FetchedImage,
    'sizeBytes' | 'requests' | 'blocks' | 'files' | 'seconds' | 'verified'
  >
  training: Record<string, unknown>
  report: ImageEvaluation
  workDir: string
}

/**
 * Runs the whole demo and answers its figures; throws a {@link DemoStepError} naming the step
 * that failed. The service is stopped whatever happens.
 */
export async function runDemo(opts: DemoOptions = {}): Promise<DemoResult> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`))
  const buildDir = resolve(opts.buildDir ?? join(root, 'node_modules', 'typescript'))
  const count = opts.sessions ?? 16
  const heldOutCount = opts.heldOut ?? 4
  const blockSize = opts.blockSize ?? 16384
  const training = opts.training ?? {
    nTracesReliable: 6,
    nProcessTracesMin: 6,
    minCoverage: 0,
    maxCoverage: 1,
    minTraceTimeSec: 0,
  }
  if (heldOutCount < 1 || count - heldOutCount < (training.nTracesReliable ?? 1)) {
    throw new DemoStepError(
      'options',
      `${count} sessions leave too few to upload after ${heldOutCount} held out`,
    )
  }
  const workDir = opts.workDir ?? (await mkdtemp(join(tmpdir(), 'rockit-demo-')))
  await mkdir(workDir, { recursive: true })

  // Every fourth session (spread over the plans) is held out; the rest are uploaded.
  const sessions = await step(`record ${count} sessions of tsc under strace`, log, () =>
    recordSessions({ buildDir, workDir, count, log }),
  )
  const { heldOut, uploaded } = splitSessions(sessions, heldOutCount)

  const tar = join(workDir, 'build.tar')
  const entries = await step(`pack ${buildDir} as the build`, log, () =>
    packBuild({ dir: buildDir, out: tar }),
  )

  const service = await step('start the service', log, async () =>
    startLocalService({
      port: opts.port ?? (await freePort()),
      stateDir: join(workDir, 'state'),
      logFile: join(workDir, 'service.log'),
    }),
  )
  log(`demo:   service on ${service.url} (log ${service.logFile})`)
  try {
    const setup = await step('set up org, machine user, deployment and app', log, () =>
      setUpApp({ url: service.url, orgName: 'demo', appName: 'tsc', blockSize, training }),
    )
    const { publisher, launcher, appName, orgName } = setup

    const build = await step('upload the build and wait for mkraw', log, async () => {
      const result = await uploadBuild(publisher, {
        tar,
        appName,
        log: false,
        timeoutMs: 5 * 60_000,
      })
      if (result.mkraw?.state !== 'succeeded')
        throw new Error(describeFailure(result.mkraw as TaskView))
      return result
    })
    log(`demo:   ${formatBytes(build.sizeBytes)} uploaded in ${build.seconds.toFixed(1)} s`)
    const first = await step('wait for the first (native) image', log, () =>
      waitForApp(publisher, appName, { timeoutMs: 5 * 60_000, log }),
    )

    await step(`upload ${uploaded.length} traces with the trace key`, log, async () => {
      for (const session of uploaded) {
        const { duplicate } = await uploadTrace(launcher, appName, session.file)
        if (duplicate) throw new Error(`${session.name} was taken for a duplicate`)
      }
    })

    const trained = await step(
      'wait until the service has processed the traces by itself',
      log,
      () =>
        waitForApp(publisher, appName, {
          changedFrom: first.dxfName,
          timeoutMs: opts.processTimeoutMs ?? 10 * 60_000,
          log,
        }).catch(async (error) => {
          const detail = await getTraining(publisher, appName).catch(() => undefined)
          const runs = detail?.runs ? ` Training runs: ${JSON.stringify(detail.runs)}` : ''
          throw new Error(`${(error as Error).message}.${runs}`)
        }),
    )
    const trainingDetail = await getTraining(publisher, appName).catch(() => ({}))

    const fetched = await step('fetch the image from the depot like a launcher', log, () =>
      fetchImage(launcher, orgName, appName, {
        outDir: join(workDir, 'fetched'),
        verifyAgainst: tar,
      }),
    )
    if (fetched.launch?.dxfName !== trained.dxfName) {
      throw new DemoStepError(
        'fetch',
        `the launcher got ${fetched.launch?.dxfName}, the app has ${trained.dxfName}`,
      )
    }

    const report = await step('measure preload on the held-out sessions', log, () =>
      evaluateImage({
        image: fetched.launch?.image.url as string,
        traces: heldOut.map((session) => session.file),
        train: uploaded.map((session) => session.file),
        mbits: opts.mbits,
        bestShared: true,
      }),
    )

    const files = entries.filter((entry) => entry.type === 'file').length
    return {
      date: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model ?? 'unknown',
        memoryGiB: totalmem() / 2 ** 30,
        freeGiB: freemem() / 2 ** 30,
        node: process.version,
      },
      build: { dir: buildDir, tarBytes: build.sizeBytes, files, blockSize },
      sessions,
      uploaded: uploaded.map((session) => session.name),
      heldOut: heldOut.map((session) => session.name),
      nativeDxfName: first.dxfName as string,
      dxfName: trained.dxfName as string,
      fetched: {
        sizeBytes: fetched.sizeBytes,
        requests: fetched.requests,
        blocks: fetched.blocks,
        files: fetched.files,
        seconds: fetched.seconds,
        verified: fetched.verified,
      },
      training: trainingDetail,
      report,
      workDir,
    }
  } catch (error) {
    if (error instanceof DemoStepError) {
      const tail = service.tail(25)
      error.message += `\n--- last lines of the service log (${service.logFile}) ---\n${tail}`
    }
    throw error
  } finally {
    await service.stop()
    if (!opts.keep) await rm(join(workDir, 'state'), { recursive: true, force: true })
  }
}

/**
 * The figures as the demo prints them: per order on the held-out sessions, the image size and,
 * at 25, 100 and 1000 Mbit/s, the median preload and time to play.
 */
export function formatDemoTable(result: DemoResult): string {
  const { report } = result
  const mbits = REPORT_MBITS.filter((mbit) => report.mbits.includes(mbit))
  const head = ['order', 'image size', ...mbits.map((mbit) => `${mbit} Mbit/s`)]
  const body = report.rows.map((row) => [
    row.name,
    formatBytes(report.fileBytes),
    ...mbits.map((mbit) => {
      const cell = row.bandwidths.find((c) => c.mbit === mbit)
      return cell
        ? `${formatBytes(Math.round(cell.median.bytes))}, ${cell.median.seconds.toFixed(2)} s`
        : ''
    }),
  ])
  const widths = head.map((_, c) => Math.max(...[head, ...body].map((line) => line[c].length)))
  const line = (cells: string[]) =>
    cells
      .map((cell, c) => cell.padEnd(widths[c]))
      .join('  ')
      .trimEnd()
  return [line(head), ...body.map(line)].join('\n')
}

const usage = `Usage: npm run demo -- [--sessions N] [--held-out N] [--port N] [--keep]
                    [--json file]

Runs the whole loop locally with the TypeScript compiler as the program (see docs/cli.md).
  --sessions N   sessions recorded (default 16)
  --held-out N   sessions never uploaded, measured at the end (default 4)
  --port N       port of the service (default: a free one)
  --keep         keep the work folder (traces, tar, fetched image, service state)
  --json <file>  write the figures (for scripts/plot-svg.ts)`

async function main(): Promise<number> {
  let values: {
    sessions?: string
    'held-out'?: string
    port?: string
    keep?: boolean
    json?: string
  }
  try {
    values = parseArgs({
      options: {
        sessions: { type: 'string' },
        'held-out': { type: 'string' },
        port: { type: 'string' },
        keep: { type: 'boolean' },
        json: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values
    if ((values as { help?: boolean }).help) {
      process.stdout.write(`${usage}\n`)
      return 0
    }
    const counts = [values.sessions, values['held-out'], values.port].filter((v) => v !== undefined)
    if (counts.some((value) => !/^\d+$/.test(value as string))) {
      throw new Error('--sessions, --held-out and --port take whole numbers')
    }
  } catch (error) {
    process.stderr.write(`demo: ${(error as Error).message}\n\n${usage}\n`)
    return 2
  }
  const started = Date.now()
  try {
    const result = await runDemo({
      sessions: values.sessions ? Number(values.sessions) : undefined,
      heldOut: values['held-out'] ? Number(values['held-out']) : undefined,
      port: values.port ? Number(values.port) : undefined,
      keep: values.keep,
      mbits: [10, 25, 50, 100, 250, 500, 1000],
    })
    const { report, fetched } = result
    const verified = fetched.verified
    process.stdout.write(
      `\nThe service learnt a new image by itself: ${result.nativeDxfName} -> ${result.dxfName}\n` +
        `Fetched from the depot: ${formatBytes(fetched.sizeBytes)} in ${fetched.requests} ` +
        `range requests, ${fetched.blocks} blocks checked, ${verified?.files} files ` +
        `(${formatBytes(verified?.bytes ?? 0)}) identical to the build\n` +
        `Build: ${result.build.dir} (${result.build.files} files, ` +
        `${formatBytes(result.build.tarBytes)} tar), ` +
        `blocks of ${formatBytes(result.build.blockSize)}\n` +
        `Held-out sessions (never uploaded): ${result.heldOut.join(', ')}; ` +
        `uploaded: ${result.uploaded.length}\n\n` +
        `Preload and time to play on the held-out sessions (median):\n` +
        `${formatDemoTable(result)}\n\n` +
        `${formatReport(report, REPORT_MBITS)}\n` +
        `${bestSharedNote(report.bestShared ?? { exact: true })}\n\n` +
        `Targets at 100 Mbit/s (median):\n${targetVerdicts(report).join('\n')}\n\n` +
        `demo finished in ${((Date.now() - started) / 1000).toFixed(0)} s` +
        (values.keep ? `; traces, tar, image and service state kept in ${result.workDir}\n` : '\n'),
    )
    if (values.json) await writeFile(values.json, `${JSON.stringify(result, null, 2)}\n`)
    if (!values.keep) await rm(result.workDir, { recursive: true, force: true })
    return 0
  } catch (error) {
    process.stderr.write(`\ndemo failed: ${failureMessage(error)}\n`)
    return 1
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  main().then((code) => {
    process.exitCode = code
  })
}
