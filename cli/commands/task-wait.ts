/** Following a task of the service until it ends, with its progress and states shown. */
import type { ApiClient } from '../api-client'
import { createProgress, type Progress } from '../progress'

/** A task as `GET /be/v1/tasks/{taskName}` shows it. */
export interface TaskView {
  taskName: string
  type: string
  state: 'submitted' | 'running' | 'succeeded' | 'failed' | 'expired'
  appName: string | null
  buildName: string | null
  progress: number
  attempts: number
  warnings: Array<{ code: string; message: string; acknowledged: boolean }>
  exception: Record<string, unknown> | null
  result?: Record<string, unknown> | null
}

/** Options of {@link waitForTask}. */
export interface WaitOptions {
  /** Give up after this long (ms). Default 30 minutes. */
  timeoutMs?: number
  /** Time between two polls (ms). Default 500. */
  intervalMs?: number
  /** Where state changes are told; default stderr. Nothing is written when false. */
  log?: ((line: string) => void) | false
}

const ended = new Set(['succeeded', 'failed', 'expired'])

/** Reads one task. */
export async function getTask(client: ApiClient, taskName: string): Promise<TaskView> {
  const { body } = await client.call<{ task: TaskView }>({
    method: 'GET',
    path: `/be/v1/tasks/${encodeURIComponent(taskName)}`,
    auth: 'user',
  })
  return body.task
}

/**
 * Polls a task until it has ended, drawing its progress on a terminal and telling each state
 * change, and answers its last view (whatever the final state).
 *
 * @example const task = await waitForTask(client, 'mkraw-...')
 */
export async function waitForTask(
  client: ApiClient,
  taskName: string,
  opts: WaitOptions = {},
): Promise<TaskView> {
  const log =
    opts.log === false ? () => {} : (opts.log ?? ((line) => process.stderr.write(`${line}\n`)))
  const deadline = Date.now() + (opts.timeoutMs ?? 30 * 60_000)
  let bar: Progress | undefined
  let lastState = ''
  for (;;) {
    const task = await getTask(client, taskName)
    if (task.state !== lastState) {
      if (bar && task.state !== 'running') {
        bar.finish()
        bar = undefined
      }
      log(`rockit: ${task.type} task ${task.taskName}: ${task.state}`)
      lastState = task.state
    }
    if (task.state === 'running' && opts.log !== false) {
      bar ??= createProgress({ label: `${task.type}`, total: 100, unit: 'count' })
      bar.update(Math.round(task.progress * 100))
    }
    if (ended.has(task.state)) {
      bar?.finish()
      return task
    }
    if (Date.now() > deadline) {
      bar?.finish()
      throw new Error(
        `${task.type} task ${taskName} is still ${task.state} after ` +
          `${Math.round((opts.timeoutMs ?? 30 * 60_000) / 1000)} s: ` +
          'check the service log, or look later with GET /be/v1/tasks/' +
          taskName,
      )
    }
    await new Promise((resolve) => setTimeout(resolve, opts.intervalMs ?? 500))
  }
}

/** One line about why a task failed and what to do. */
export function describeFailure(task: TaskView): string {
  const exception = task.exception ? JSON.stringify(task.exception) : 'no exception recorded'
  const what =
    task.state === 'expired'
      ? 'it expired (an upload that never came, or was ended by hand): upload again'
      : 'once the cause is fixed, retry it with POST /be/v1/trigger ' +
        `{"type":"retryTask","taskName":"${task.taskName}"}`
  return `${task.type} task ${task.taskName} ${task.state}: ${exception}; ${what}`
}
