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
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { ApiCallError } from '../cli/api-client'
import { bestSharedNote } from '../cli/commands/eval'
import { formatReport, REPORT_MBITS } from '../cli/commands/eval-report'
import { formatBytes } from '../cli/progress'
import { copyPythonWorld, type PythonSession, recordPythonSessions } from './bench/python-sessions'
import { targetVerdicts } from './bench/targets'
import { type TrainingLoopResult, trainAndMeasure } from './bench/training-loop'
import { DemoStepError, step } from './demo'
import { timeToPlaySvg } from './plot-svg'

const usage = `Usage: npm run bench:python -- [options]

Options:
  --sessions N      sessions to record (24)
  --held-out N      sessions never uploaded, measured on the image (6)
  --block-size N    the app's block size in bytes (16384)
  --port N          port of the local service (a free one)
  --keep            keep the work folder (build, traces, state, log)
  --json <file>     write every figure as JSON
  --plot <file>     write the time-to-play plot as SVG`

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
  // Every k-th session is held out, spread over the plans; the rest are uploaded.
  const stride = count / heldOutCount
  const heldOutIndex = new Set(
    Array.from({ length: heldOutCount }, (_, i) => Math.floor(i * stride + stride - 1)),
  )
  const heldOut = sessions.filter((_, i) => heldOutIndex.has(i))
  const uploaded = sessions.filter((_, i) => !heldOutIndex.has(i))
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
    const result = await runPythonBench({
      sessions: number(values.sessions),
      heldOut: number(values['held-out']),
      blockSize: number(values['block-size']),
      port: number(values.port),
      keep: Boolean(values.keep),
      mbits: [10, 25, 50, 100, 250, 500, 1000],
    })
    const { report, fetched } = result
    const perSession = result.sessions
      .map((s) => `  ${s.name}: ${s.jobs.join(' ')} (${s.durationMs} ms, ${s.files} files)`)
      .join('\n')
    process.stdout.write(
      `\nImage ${result.nativeDxfName} -> ${result.dxfName} (${result.run?.reason})\n` +
        `Fetched ${formatBytes(fetched.sizeBytes)} in ${fetched.requests} range requests, ` +
        `${fetched.blocks} blocks checked\n` +
        `Build: ${result.build.files} files, ${formatBytes(result.build.tarBytes)} tar, blocks ` +
        `of ${formatBytes(result.build.blockSize)}\nSessions:\n${perSession}\n` +
        `Held out: ${result.heldOut.join(', ')}; uploaded: ${result.uploaded.length}\n\n` +
        `${formatReport(report, REPORT_MBITS)}\n` +
        `${bestSharedNote(report.bestShared ?? { exact: true })}\n\n` +
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
