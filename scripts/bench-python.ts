/**
 * `npm run bench:python`: the preload loop on a program that, like a game, reads a few percent
 * of a big build at start and a different few percent in each session. The build is Debian's
 * Python standard library (about 53 MB, 1,300 files) with a small program of its own; each
 * session runs that program on 3 to 5 jobs that import different modules
 * (scripts/bench/python-sessions.ts), recorded under strace. Most sessions are uploaded to a
 * local instance, which learns and publishes an image by itself; the image is fetched from the
 * depot, checked, and measured on the held-out sessions (scripts/bench/training-loop.ts).
 *
 * Options: --sessions N (24), --held-out N (6), --block-size N (16384), --port N, --keep,
 * --json <file>, --plot <file.svg>.
 */

import { mkdtemp } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { formatBytes } from '../cli/progress'
import { PRELOAD_BENCH_OPTIONS, preloadBenchMain } from './bench/preload-bench-cli'
import { copyPythonWorld, type PythonSession, recordPythonSessions } from './bench/python-sessions'
import { splitSessions } from './bench/session-split'
import { type TrainingLoopResult, trainAndMeasure } from './bench/training-loop'
import { DemoStepError, step } from './demo'

const usage = `Usage: npm run bench:python -- [--sessions N] [--held-out N] [--block-size N]
                          [--port N] [--keep] [--json file] [--plot file.svg]

Measures preload and time to play of Python sessions on its standard library (docs/benchmarks.md).
${PRELOAD_BENCH_OPTIONS}`

/** Options of {@link runPythonBench}. */
export interface PythonBenchOptions {
  sessions?: number
  heldOut?: number
  blockSize?: number
  port?: number
  keep?: boolean
  mbits?: number[]
  log?: (line: string) => void
}

/** What the benchmark measured. */
export interface PythonBenchResult
  extends Omit<TrainingLoopResult, 'tarBytes' | 'files' | 'header'> {
  date: string
  machine: { cpus: number; cpuModel: string; node: string }
  build: { dir: string; tarBytes: number; files: number; blockSize: number }
  sessions: PythonSession[]
  uploaded: string[]
  heldOut: string[]
  workDir: string
}

/** Runs the benchmark; throws a {@link DemoStepError} naming the step that failed. */
export async function runPythonBench(opts: PythonBenchOptions = {}): Promise<PythonBenchResult> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`))
  const count = opts.sessions ?? 24
  const heldOutCount = opts.heldOut ?? 6
  const blockSize = opts.blockSize ?? 16384
  if (heldOutCount < 1 || count - heldOutCount < 2) {
    throw new DemoStepError('options', `${count} sessions with ${heldOutCount} held out`)
  }
  const workDir = await mkdtemp(join(tmpdir(), 'rockit-bench-python-'))
  const appDir = join(workDir, 'python-world')
  await step('copy the Python library and write the program', log, () => copyPythonWorld(appDir))
  const sessions = await step(`record ${count} sessions of python3 under strace`, log, () =>
    recordPythonSessions({ appDir, workDir, count, log }),
  )
  const { heldOut, uploaded } = splitSessions(sessions, heldOutCount)
  const loop = await trainAndMeasure({
    appDir,
    workDir,
    appName: 'python',
    blockSize,
    uploaded: uploaded.map((session) => session.file),
    heldOut: heldOut.map((session) => session.file),
    mbits: opts.mbits,
    port: opts.port,
    keep: opts.keep,
    log,
  })
  const { tarBytes, files, header: _header, ...measured } = loop
  return {
    ...measured,
    date: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      node: process.version,
    },
    build: { dir: appDir, tarBytes, files, blockSize },
    sessions,
    uploaded: uploaded.map((session) => session.name),
    heldOut: heldOut.map((session) => session.name),
    workDir,
  }
}

function main(): Promise<number> {
  return preloadBenchMain({
    usage,
    run: (run) => runPythonBench(run),
    lines: (result) => [
      `Build: ${result.build.files} files, ${formatBytes(result.build.tarBytes)} tar, blocks ` +
        `of ${formatBytes(result.build.blockSize)}`,
      'Sessions:',
      ...result.sessions.map(
        (s) => `  ${s.name}: ${s.jobs.join(' ')} (${s.durationMs} ms, ${s.files} files)`,
      ),
    ],
  })
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  main().then((code) => {
    process.exitCode = code
  })
}
