/**
 * `npm run bench:sqlite`: the demo's loop on a program that reads parts of a big data file, as
 * a game reads an asset pack. The build is Debian's sqlite3 with its libraries and a ~60 MB
 * database made from this machine's dpkg data (scripts/bench/dpkg-world.ts); sessions run
 * different real queries on it under strace (scripts/bench/sqlite-sessions.ts). Most sessions
 * are uploaded to a local instance of the service, which learns and publishes an image by
 * itself; the image is fetched from the depot, checked, and measured on the held-out sessions
 * next to native, file-level and ideal orders. It also says which reads set the image's P*
 * (scripts/bench/preload-cause.ts) and whether the targets hold.
 *
 * Options: --sessions N (24), --held-out N (6), --block-size N (16384), --port N, --keep,
 * --json <file>, --plot <file.svg>.
 */
import { spawnSync } from 'node:child_process'
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { ApiCallError } from '../cli/api-client'
import type { TrainingSettings } from '../cli/commands/app-create'
import { packBuild } from '../cli/commands/build-pack'
import { uploadBuild } from '../cli/commands/build-upload'
import { evaluateImage, type ImageEvaluation } from '../cli/commands/eval'
import { formatReport, modelOfImage, REPORT_MBITS } from '../cli/commands/eval-report'
import { fetchImage } from '../cli/commands/image-fetch'
import type { VerifyReport } from '../cli/commands/image-verify'
import { describeFailure, type TaskView } from '../cli/commands/task-wait'
import { uploadTrace } from '../cli/commands/trace-upload'
import { formatBytes } from '../cli/progress'
import { buildDpkgWorld, type DpkgWorld } from './bench/dpkg-world'
import {
  databaseBlockNames,
  loadFirstAccess,
  type PreloadCause,
  preloadCauses,
} from './bench/preload-cause'
import { copyProgram, programLayout, recordSqliteSessions } from './bench/sqlite-sessions'
import {
  DemoStepError,
  freePort,
  getTraining,
  setUpApp,
  startLocalService,
  step,
  waitForApp,
} from './demo'
import { timeToPlaySvg } from './plot-svg'

const SQLITE3 = '/usr/bin/sqlite3'

/** Options of {@link runSqliteBench}. */
export interface SqliteBenchOptions {
  sessions?: number
  heldOut?: number
  blockSize?: number
  port?: number
  workDir?: string
  keep?: boolean
  mbits?: number[]
  log?: (line: string) => void
}

/** Everything the benchmark measured (a superset of what scripts/plot-svg.ts reads). */
export interface SqliteBenchResult {
  date: string
  machine: { cpus: number; cpuModel: string; free: string; node: string; sqlite: string }
  build: { dir: string; tarBytes: number; files: number; blockSize: number; dbBytes: number }
  world: Omit<DpkgWorld, 'packages'> & { packages: number }
  sessions: Awaited<ReturnType<typeof recordSqliteSessions>>
  uploaded: string[]
  heldOut: string[]
  nativeDxfName: string
  dxfName: string
  run: Record<string, unknown> | undefined
  fetched: { sizeBytes: number; requests: number; blocks: number; verified?: VerifyReport }
  report: ImageEvaluation
  causes: PreloadCause[]
  workDir: string
}

const output = (command: string, args: string[]) =>
  spawnSync(command, args, { encoding: 'utf8' }).stdout?.trim() ?? ''

/** Polls the app's training until a processing run is recorded and none is running. */
async function waitForRun(client: Parameters<typeof getTraining>[0], appName: string) {
  const deadline = Date.now() + 10 * 60_000
  for (;;) {
    const training = await getTraining(client, appName)
    const run = training.runs?.[0] as Record<string, unknown> | undefined
    if (run && training.state !== 'processing') return run
    if (Date.now() > deadline) throw new Error(`no run finished in 10 minutes: ${training.state}`)
    await new Promise((done) => setTimeout(done, 1000))
  }
}

/**
 * Sends one upload again after a 429: the service takes at most 50 uploads of an app in 5 s,
 * and a launcher waits as told.
 */
async function uploadPaced<T>(upload: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await upload()
    } catch (error) {
      if (!(error instanceof ApiCallError && error.status === 429) || attempt >= 10) throw error
      await new Promise((done) => setTimeout(done, 5000))
    }
  }
}

/** Runs the benchmark; throws a {@link DemoStepError} naming the step that failed. */
export async function runSqliteBench(opts: SqliteBenchOptions = {}): Promise<SqliteBenchResult> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`))
  const count = opts.sessions ?? 24
  const heldOutCount = opts.heldOut ?? 6
  const blockSize = opts.blockSize ?? 16384
  if (heldOutCount < 1 || count - heldOutCount < 2) {
    throw new DemoStepError('options', `${count} sessions with ${heldOutCount} held out`)
  }
  const workDir = opts.workDir ?? (await mkdtemp(join(tmpdir(), 'rockit-bench-sqlite-')))
  const appDir = join(workDir, 'sqlite-world')
  await mkdir(join(appDir, 'data'), { recursive: true })

  const loader = await step('copy sqlite3 and its libraries', log, () => copyProgram(appDir))
  const world = await step('build data/world.db from dpkg data', log, () =>
    buildDpkgWorld({ dbFile: join(appDir, programLayout.database), sqlite3: SQLITE3 }),
  )
  const dbBytes = (await stat(join(appDir, programLayout.database))).size
  log(
    `bench:   ${world.packages.length} packages, ${world.files} files, ${world.changes} ` +
      `changelog entries, ${world.copyrights} copyrights: ${formatBytes(dbBytes)}`,
  )

  const sessions = await step(`record ${count} sessions of sqlite3 under strace`, log, () =>
    recordSqliteSessions({ appDir, loader, world, workDir, count, log }),
  )
  // Every k-th session is held out, spread over the plans; the rest are uploaded.
  const stride = count / heldOutCount
  const heldOutIndex = new Set(
    Array.from({ length: heldOutCount }, (_, i) => Math.floor(i * stride + stride - 1)),
  )
  const heldOut = sessions.filter((_, i) => heldOutIndex.has(i))
  const uploaded = sessions.filter((_, i) => !heldOutIndex.has(i))
  // One run over all uploaded traces: thresholds equal to their number.
  const training: TrainingSettings = {
    nTracesReliable: uploaded.length,
    nProcessTracesMin: uploaded.length,
    minCoverage: 0,
    maxCoverage: 1,
    minTraceTimeSec: 0,
  }

  const tar = join(workDir, 'build.tar')
  const entries = await step('pack the program folder as the build', log, () =>
    packBuild({ dir: appDir, out: tar }),
  )
  const service = await step('start the service', log, async () =>
    startLocalService({
      port: opts.port ?? (await freePort()),
      stateDir: join(workDir, 'state'),
      logFile: join(workDir, 'service.log'),
    }),
  )
  log(`bench:   service on ${service.url} (log ${service.logFile})`)
  try {
    const { publisher, launcher, appName, orgName } = await step('set up the app', log, () =>
      setUpApp({ url: service.url, orgName: 'bench', appName: 'sqlite', blockSize, training }),
    )
    const build = await step('upload the build and wait for mkraw', log, async () => {
      const result = await uploadBuild(publisher, { tar, appName, log: false, timeoutMs: 300_000 })
      if (result.mkraw?.state !== 'succeeded') {
        throw new Error(describeFailure(result.mkraw as TaskView))
      }
      return result
    })
    const first = await step('wait for the first (native) image', log, () =>
      waitForApp(publisher, appName, { timeoutMs: 300_000, log }),
    )
    await step(`upload ${uploaded.length} traces with the trace key`, log, async () => {
      for (const session of uploaded) {
        const { duplicate } = await uploadPaced(() => uploadTrace(launcher, appName, session.file))
        if (duplicate) throw new Error(`${session.name} was taken for a duplicate`)
      }
    })
    const run = await step('wait for the service to process the traces', log, () =>
      waitForRun(publisher, appName),
    )
    log(`bench:   run ${run.taskName}: ${run.reason}`)
    const current = await step('wait for the published image', log, () =>
      waitForApp(publisher, appName, {
        changedFrom: run.deployed ? first.dxfName : undefined,
        timeoutMs: 300_000,
        log,
      }),
    )
    const fetched = await step('fetch the image from the depot and verify it', log, () =>
      fetchImage(launcher, orgName, appName, {
        outDir: join(workDir, 'fetched'),
        verifyAgainst: tar,
      }),
    )
    const imageUrl = fetched.launch?.image.url as string
    if (fetched.launch?.dxfName !== current.dxfName || !fetched.verified) {
      throw new DemoStepError('fetch', `got ${fetched.launch?.dxfName}, app has ${current.dxfName}`)
    }

    const report = await step('measure the held-out sessions', log, () =>
      evaluateImage({
        image: imageUrl,
        traces: heldOut.map((session) => session.file),
        train: uploaded.map((session) => session.file),
        mbits: opts.mbits,
      }),
    )
    const causes = await step('find the reads that set P*', log, async () => {
      const { header } = fetched
      const model = modelOfImage(header)
      const load = (file: string) => loadFirstAccess(file, model)
      return preloadCauses({
        model,
        order: header.order,
        heldOut: await Promise.all(
          heldOut.map(async (s) => ({ name: s.name, trace: await load(s.file) })),
        ),
        uploaded: await Promise.all(uploaded.map((s) => load(s.file))),
        mbit: 100,
        blockNames: databaseBlockNames({
          model,
          dbPath: programLayout.database,
          dbFile: join(appDir, programLayout.database),
          sqlite3: SQLITE3,
        }),
      })
    })

    return {
      date: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model ?? 'unknown',
        free: output('free', ['-h']),
        node: process.version,
        sqlite: output(SQLITE3, ['-version']).split(' ')[0],
      },
      build: {
        dir: appDir,
        tarBytes: build.sizeBytes,
        files: entries.filter((entry) => entry.type === 'file').length,
        blockSize,
        dbBytes,
      },
      world: { ...world, packages: world.packages.length },
      sessions,
      uploaded: uploaded.map((session) => session.name),
      heldOut: heldOut.map((session) => session.name),
      nativeDxfName: first.dxfName as string,
      dxfName: current.dxfName as string,
      run,
      fetched: {
        sizeBytes: fetched.sizeBytes,
        requests: fetched.requests,
        blocks: fetched.blocks,
        verified: fetched.verified,
      },
      report,
      causes,
      workDir,
    }
  } catch (error) {
    if (error instanceof DemoStepError) {
      error.message += `\n--- last lines of ${service.logFile} ---\n${service.tail(25)}`
    }
    throw error
  } finally {
    await service.stop()
    if (!opts.keep) await rm(join(workDir, 'state'), { recursive: true, force: true })
  }
}

/** Median P* of a row at a bandwidth. */
function medianBytes(report: ImageEvaluation, row: string, mbit: number): number {
  const cell = report.rows.find((r) => r.name === row)?.bandwidths.find((c) => c.mbit === mbit)
  return cell?.median.bytes ?? Number.NaN
}

/** The targets at 100 Mbit/s, each with its figures. */
export function targetVerdicts(report: ImageEvaluation): string[] {
  const [image, ideal, native, fileLevel] = ['image', 'ideal', 'native', 'file-level'].map((row) =>
    medianBytes(report, row, 100),
  )
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(2)} MiB`
  const verdict = (holds: boolean) => (holds ? 'holds' : 'does NOT hold')
  return [
    `image within 1.25x of ideal: ${verdict(image <= 1.25 * ideal)} ` +
      `(${mib(image)} = ${(image / ideal).toFixed(2)}x of ${mib(ideal)})`,
    `image <= 1/10 of native: ${verdict(image <= native / 10)} ` +
      `(${mib(image)} against ${mib(native / 10)}; native ${mib(native)})`,
    `image better than file-level: ${verdict(image < fileLevel)} ` +
      `(${mib(image)} against ${mib(fileLevel)})`,
  ]
}

/** The causes as one line per held-out session. */
export function formatCauses(causes: PreloadCause[]): string {
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(2)} MiB`
  return causes
    .map((cause) => {
      const unseen = Object.entries(cause.unseenBy)
        .sort((a, b) => b[1] - a[1])
        .map(([what, bytes]) => `${what} ${formatBytes(bytes)}`)
        .join(', ')
      return (
        `${cause.session}: P* ${mib(cause.preloadBytes)} (ideal ${mib(cause.idealBytes)}) set at ` +
        `${cause.critical.tMs} ms by ${cause.critical.what} ending at ` +
        `${mib(cause.critical.imageEnd)} (${cause.critical.seen ? 'seen' : 'never seen'} in ` +
        `training); reads ${mib(cause.readBytes)}, unseen ${mib(cause.unseenBytes)}` +
        (unseen ? `: ${unseen}` : '')
      )
    })
    .join('\n')
}

const usage = `Usage: npm run bench:sqlite -- [--sessions N] [--held-out N] [--block-size N]
                          [--port N] [--keep] [--json file] [--plot file.svg]

Measures preload and time to play of sqlite3 sessions on a dpkg database (docs/benchmarks.md).
  --sessions N     sessions recorded (default 24)
  --held-out N     sessions never uploaded, measured at the end (default 6)
  --block-size N   the app's block size in bytes (default 16384)
  --port N         port of the service (default: a free one)
  --keep           keep the work folder (program, traces, tar, fetched image, service state)
  --json <file>    write the figures
  --plot <file>    draw time to play against bandwidth (scripts/plot-svg.ts)`

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      sessions: { type: 'string' },
      'held-out': { type: 'string' },
      'block-size': { type: 'string' },
      port: { type: 'string' },
      keep: { type: 'boolean' },
      json: { type: 'string' },
      plot: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: false,
  })
  const numbers = [values.sessions, values['held-out'], values['block-size'], values.port]
  if (values.help || numbers.some((v) => v !== undefined && !/^\d+$/.test(String(v)))) {
    process.stdout.write(`${usage}\n`)
    return values.help ? 0 : 2
  }
  const number = (value: unknown) => (value === undefined ? undefined : Number(value))
  const started = Date.now()
  try {
    const result = await runSqliteBench({
      sessions: number(values.sessions),
      heldOut: number(values['held-out']),
      blockSize: number(values['block-size']),
      port: number(values.port),
      keep: Boolean(values.keep),
      mbits: [10, 25, 50, 100, 250, 500, 1000],
    })
    const { report, fetched } = result
    process.stdout.write(
      `\nImage ${result.nativeDxfName} -> ${result.dxfName} (${result.run?.reason})\n` +
        `Fetched ${formatBytes(fetched.sizeBytes)} in ${fetched.requests} range requests, ` +
        `${fetched.blocks} blocks checked, ${fetched.verified?.files} files identical to the build\n` +
        `Build: ${result.build.files} files, ${formatBytes(result.build.tarBytes)} tar ` +
        `(database ${formatBytes(result.build.dbBytes)}), blocks of ${formatBytes(result.build.blockSize)}\n` +
        `Held out: ${result.heldOut.join(', ')}; uploaded: ${result.uploaded.length}\n\n` +
        `${formatReport(report, REPORT_MBITS)}\n\n` +
        `What sets the image's P* at 100 Mbit/s:\n${formatCauses(result.causes)}\n\n` +
        `Targets at 100 Mbit/s (median):\n${targetVerdicts(report).join('\n')}\n\n` +
        `bench finished in ${((Date.now() - started) / 1000).toFixed(0)} s\n`,
    )
    if (typeof values.json === 'string') {
      await writeFile(values.json, `${JSON.stringify(result, null, 2)}\n`)
    }
    if (typeof values.plot === 'string') await writeFile(values.plot, timeToPlaySvg(result))
    if (!values.keep) await rm(result.workDir, { recursive: true, force: true })
    return 0
  } catch (error) {
    const message =
      error instanceof DemoStepError || error instanceof ApiCallError
        ? error.message
        : ((error as Error).stack ?? String(error))
    process.stderr.write(`\nbench failed: ${message}\n`)
    return 1
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  main().then((code) => {
    process.exitCode = code
  })
}
