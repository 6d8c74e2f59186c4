/**
 * The tables `npm run bench:import` prints (and docs/benchmarks.md shows): throughput, the
 * runtime's memory per phase, the Worker isolate's heap per phase and the control's memory.
 */
import { formatBytes } from '../../cli/progress'
import type { ImportBenchResult, ImportRun } from '../bench-import'
import { MiB } from './import-build'
import type { IsolatePhase } from './import-isolate'

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

const ISOLATE_PHASES = ['idle', 'upload', 'scan', 'image', 'finish', 'deploy', 'after']

/** `peak / retained` of the Worker's isolate in one phase, MiB: `-` when it never answered. */
function isolateCell(phase: IsolatePhase | undefined): string {
  if (!phase) return '-'
  const retained =
    phase.retainedMin === undefined
      ? '-'
      : phase.retainedMin === phase.retainedMax
        ? mib1(phase.retainedMin)
        : `${mib1(phase.retainedMin)}-${mib1(phase.retainedMax)}`
  return `${mib1(phase.peak)} / ${retained}`
}

const mib1 = (bytes: number | undefined) => (bytes === undefined ? '-' : (bytes / MiB).toFixed(1))

/** The Worker isolate's heap per phase, one row per size. */
function isolateRows(result: ImportBenchResult, line: (cells: string[]) => string): string[] {
  return result.runs.map((run) =>
    line([
      run.label,
      ...ISOLATE_PHASES.map((phase) => isolateCell(run.isolate?.phases[phase])),
      String(run.isolate?.unanswered ?? '-'),
    ]),
  )
}

/** The control Worker's figures and memory, one row per size that ran it. */
function controlRows(result: ImportBenchResult, line: (cells: string[]) => string): string[] {
  return result.runs.flatMap((run) => {
    const control = run.control
    if (!control) return []
    const runtime = control.peaks.runtime ?? {}
    return [
      line([
        run.label,
        fixed(control.putSec),
        fixed(control.scanSec),
        fixed(control.imageSec),
        ...['idle', 'upload', 'scan', 'image'].map((phase) =>
          runtime[phase] ? `${mib(runtime[phase].rss)} (${mib(runtime[phase].anon)})` : '-',
        ),
        mib(control.final.runtime?.hwm),
        isolateCell(control.isolate.image ?? control.isolate.after),
        control.error ? 'failed' : 'ok',
      ]),
    ]
  })
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
  const isolateHead = ['build', ...ISOLATE_PHASES, 'unanswered']
  const simulatorHead = ['build', ...ISOLATE_PHASES]
  const controlHead = [
    'build',
    'PUT s',
    'scan s',
    'image s',
    'idle',
    'upload',
    'scan',
    'image',
    'runtime VmHWM',
    'isolate in image',
    'outcome',
  ]
  const control = controlRows(result, line)
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
    '',
    "The Worker's isolate per phase: largest heap + array buffers seen / after a full",
    'collection (smallest-largest), MiB; and inspector calls not answered in time:',
    '',
    line(isolateHead),
    rule(isolateHead),
    ...isolateRows(result, line),
    '',
    "Miniflare's simulators (every other isolate of the runtime) together, largest heap +",
    'array buffers per phase, MiB (read every 5 s, no collection):',
    '',
    line(simulatorHead),
    rule(simulatorHead),
    ...result.runs.map((run) =>
      line([run.label, ...ISOLATE_PHASES.map((phase) => mib1(run.simulators?.peaks[phase]))]),
    ),
    ...(control.length
      ? [
          '',
          'Control Worker (R2 only) on the same tar: seconds, runtime VmRSS (RssAnon) per phase',
          "and VmHWM, MiB, and its isolate's image phase (peak / after a collection):",
          '',
          line(controlHead),
          rule(controlHead),
          ...control,
        ]
      : []),
  ].join('\n')
}
