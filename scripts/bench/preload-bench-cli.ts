/**
 * The command line of the preload benchmarks (`bench:sqlite`, `bench:python`): the options they
 * share, the report they print (the run, the table, the oracle's note and the quality targets),
 * the files they write, and how they fail. Each benchmark gives its run and its own lines.
 */
import { rm, writeFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { ApiCallError } from '../../cli/api-client'
import { bestSharedNote, type ImageEvaluation } from '../../cli/commands/eval'
import { formatReport, REPORT_MBITS } from '../../cli/commands/eval-report'
import { formatBytes } from '../../cli/progress'
import { DemoStepError } from '../demo'
import { type PlotInput, timeToPlaySvg } from '../plot-svg'
import { targetVerdicts } from './targets'

/** What the options ask of a run. */
export interface PreloadBenchRun {
  sessions?: number
  heldOut?: number
  blockSize?: number
  port?: number
  keep: boolean
  mbits: number[]
}

/** What every preload benchmark's result holds, beyond what it plots. */
export interface PreloadBenchResult extends PlotInput {
  nativeDxfName: string
  dxfName: string
  run: Record<string, unknown>
  fetched: { sizeBytes: number; requests: number; blocks: number }
  report: ImageEvaluation
  /** Names of the sessions uploaded (the held-out ones are `heldOut`). */
  uploaded: string[]
  workDir: string
}

/** The options' part of a benchmark's usage text. */
export const PRELOAD_BENCH_OPTIONS = `  --sessions N     sessions to record (default 24)
  --held-out N     sessions never uploaded, measured at the end (default 6)
  --block-size N   the app's block size in bytes (default 16384)
  --port N         port of the service (default: a free one)
  --keep           keep the work folder (program, traces, tar, fetched image, service state)
  --json <file>    write the figures
  --plot <file>    draw time to play against bandwidth (scripts/plot-svg.ts)`

/**
 * Runs a benchmark from the command line and answers the exit code: 0 done, 1 failed, 2 bad
 * options. `lines` gives the benchmark's own lines of the report, printed before the table.
 */
export async function preloadBenchMain<R extends PreloadBenchResult>(opts: {
  usage: string
  run: (run: PreloadBenchRun) => Promise<R>
  lines: (result: R) => string[]
  /** Printed after the table, before the targets. */
  more?: (result: R) => string
}): Promise<number> {
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
    process.stdout.write(`${opts.usage}\n`)
    return values.help ? 0 : 2
  }
  const number = (value: unknown) => (value === undefined ? undefined : Number(value))
  const started = Date.now()
  try {
    const result = await opts.run({
      sessions: number(values.sessions),
      heldOut: number(values['held-out']),
      blockSize: number(values['block-size']),
      port: number(values.port),
      keep: Boolean(values.keep),
      mbits: [10, 25, 50, 100, 250, 500, 1000],
    })
    const { report, fetched } = result
    const more = opts.more ? `${opts.more(result)}\n\n` : ''
    process.stdout.write(
      `\nImage ${result.nativeDxfName} -> ${result.dxfName} (${result.run?.reason})\n` +
        `Fetched ${formatBytes(fetched.sizeBytes)} in ${fetched.requests} range requests, ` +
        `${fetched.blocks} blocks checked\n` +
        `${opts.lines(result).join('\n')}\n` +
        `Held out: ${result.heldOut.join(', ')}; uploaded: ${result.uploaded.length}\n\n` +
        `${formatReport(report, REPORT_MBITS)}\n` +
        `${bestSharedNote(report.bestShared ?? { exact: true })}\n\n${more}` +
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
    process.stderr.write(`\nbench failed: ${failureMessage(error)}\n`)
    return 1
  }
}

/** What a failed run tells the user: the step's or the call's own message, else the stack. */
export function failureMessage(error: unknown): string {
  return error instanceof DemoStepError || error instanceof ApiCallError
    ? error.message
    : ((error as Error).stack ?? String(error))
}
