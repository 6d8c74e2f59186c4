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
import { mkdir, mkdtemp, stat } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { ImageEvaluation } from '../cli/commands/eval'
import { modelOfImage } from '../cli/commands/eval-report'
import { formatBytes } from '../cli/progress'
import { buildDpkgWorld, type DpkgWorld } from './bench/dpkg-world'
import { PRELOAD_BENCH_OPTIONS, preloadBenchMain } from './bench/preload-bench-cli'
import {
  databaseBlockNames,
  loadFirstAccess,
  type PreloadCause,
  preloadCauses,
} from './bench/preload-cause'
import { splitSessions } from './bench/session-split'
import { copyProgram, programLayout, recordSqliteSessions } from './bench/sqlite-sessions'
import { type TrainingLoopResult, trainAndMeasure } from './bench/training-loop'
import { DemoStepError, step } from './demo'

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
  run: Record<string, unknown>
  fetched: TrainingLoopResult['fetched']
  report: ImageEvaluation
  causes: PreloadCause[]
  workDir: string
}

const output = (command: string, args: string[]) =>
  spawnSync(command, args, { encoding: 'utf8' }).stdout?.trim() ?? ''

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
  const { heldOut, uploaded } = splitSessions(sessions, heldOutCount)
  const { header, tarBytes, files, ...measured } = await trainAndMeasure({
    appDir,
    workDir,
    appName: 'sqlite',
    blockSize,
    uploaded: uploaded.map((session) => session.file),
    heldOut: heldOut.map((session) => session.file),
    mbits: opts.mbits,
    port: opts.port,
    keep: opts.keep,
    log,
  })
  const causes = await step('find the reads that set P*', log, async () => {
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
    ...measured,
    date: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      free: output('free', ['-h']),
      node: process.version,
      sqlite: output(SQLITE3, ['-version']).split(' ')[0],
    },
    build: { dir: appDir, tarBytes, files, blockSize, dbBytes },
    world: { ...world, packages: world.packages.length },
    sessions,
    uploaded: uploaded.map((session) => session.name),
    heldOut: heldOut.map((session) => session.name),
    causes,
    workDir,
  }
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
${PRELOAD_BENCH_OPTIONS}`

function main(): Promise<number> {
  return preloadBenchMain({
    usage,
    run: (run) => runSqliteBench(run),
    lines: (result) => [
      `Files identical to the build: ${result.fetched.verified?.files}`,
      `Build: ${result.build.files} files, ${formatBytes(result.build.tarBytes)} tar ` +
        `(database ${formatBytes(result.build.dbBytes)}), blocks of ${formatBytes(result.build.blockSize)}`,
    ],
    more: (result) => `What sets the image's P* at 100 Mbit/s:\n${formatCauses(result.causes)}`,
  })
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  main().then((code) => {
    process.exitCode = code
  })
}
