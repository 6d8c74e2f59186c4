/**
 * What a task type implements. A task is a D1 row plus steps on the `tasks` queue; each step
 * does bounded work, returns where the next one resumes, and must be idempotent: a step run
 * twice (a redelivered message, a retry) changes nothing the second time.
 */
import type { Env } from '../env'
import type { Logger } from '../http/log'

export const TASK_TYPES = ['dltar', 'mkraw', 'mkdxf', 'deploy', 'prune', 'hello'] as const
export type TaskType = (typeof TASK_TYPES)[number]

export const TASK_STATES = ['submitted', 'running', 'succeeded', 'failed', 'expired'] as const
export type TaskState = (typeof TASK_STATES)[number]

/** The failure recorded on a task: a code, a message, and facts such as `httpStatus`. */
export interface TaskException {
  code: string
  message: string
  [fact: string]: unknown
}

/** A task row with its JSON columns parsed. */
export interface TaskRecord {
  taskName: string
  orgId: string | null
  appId: string | null
  type: TaskType
  state: TaskState
  appName: string | null
  buildName: string | null
  progress: number
  attempts: number
  seq: number
  params: Record<string, unknown>
  cursor: Record<string, unknown> | null
  result: Record<string, unknown> | null
  warnings: { code: string; message: string; acknowledged: boolean }[]
  exception: TaskException | null
  created: string
  started: string | null
  ended: string | null
}

export interface StepContext {
  env: Env
  task: TaskRecord
  log: Logger
  /** Adds a warning to the task (shown until acknowledged). */
  warn(code: string, message: string): Promise<void>
}

export type StepOutcome =
  /** Run another step, resuming from `cursor`. */
  | { kind: 'continue'; cursor: Record<string, unknown>; progress?: number; delaySec?: number }
  /** The task succeeded. */
  | { kind: 'done'; result?: Record<string, unknown> }

export interface TaskHandler {
  /** One bounded step. Throw `TaskFailure` to fail the task; other errors are retried. */
  step(ctx: StepContext): Promise<StepOutcome>
  /** Called once when the task fails for good (e.g. a failed publish locks the app). */
  onFailed?(ctx: StepContext, exception: TaskException): Promise<void>
  /** Called after success, to chain the next task. Must be idempotent. */
  onSucceeded?(ctx: StepContext, result: Record<string, unknown>): Promise<void>
}

/** Fails a task for good with `exception` (no automatic retry; `retryTask` may resume it). */
export class TaskFailure extends Error {
  override name = 'TaskFailure'
  constructor(readonly exception: TaskException) {
    super(exception.message)
  }
}
