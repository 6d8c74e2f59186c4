/**
 * The `tasks` queue consumer. Each message runs one step of one task. A message whose `seq` is
 * not the task's current one is a duplicate (or stale) and is dropped, so redelivery changes
 * nothing. Unexpected errors are retried with back-off; `TaskFailure` fails the task for good.
 */
import { and, eq } from 'drizzle-orm'
import { dbOf, isoNow } from '../db/client'
import { tasks } from '../db/schema'
import { type Env, settingsOf } from '../env'
import { emitTaskEvent } from '../events/emit'
import { createLogger, type Logger } from '../http/log'
import { taskHandlers } from './handlers'
import type { TaskMessage } from './messages'
import { loadTask } from './store'
import { type StepContext, type TaskException, TaskFailure, type TaskRecord } from './types'

/** Attempts of one step before an unexpected error fails the task. */
export const MAX_STEP_ATTEMPTS = 4

export async function handleTaskBatch(batch: MessageBatch<TaskMessage>, env: Env): Promise<void> {
  for (const message of batch.messages) {
    const log = createLogger(settingsOf(env).logLevel, {
      queue: batch.queue,
      taskName: message.body.taskName,
    })
    try {
      await runStep(env, message, log)
    } catch (error) {
      log.error('task step crashed', { error: String(error), stack: (error as Error)?.stack })
      message.retry({ delaySeconds: 5 })
    }
  }
}

/** The context a handler's `step`, `onFailed` and `onSucceeded` receive. */
export function stepContext(env: Env, task: TaskRecord, log: Logger): StepContext {
  return {
    env,
    task,
    log,
    async warn(code, message) {
      task.warnings.push({ code, message, acknowledged: false })
      await dbOf(env)
        .update(tasks)
        .set({ warnings: JSON.stringify(task.warnings), updated: isoNow() })
        .where(eq(tasks.id, task.taskName))
    },
  }
}

async function runStep(env: Env, message: Message<TaskMessage>, log: Logger): Promise<void> {
  const db = dbOf(env)
  let task = await loadTask(env, message.body.taskName)
  if (!task || task.seq !== message.body.seq || !['submitted', 'running'].includes(task.state)) {
    message.ack()
    return
  }
  const handler = taskHandlers[task.type]

  if (task.state === 'submitted' || message.attempts === 1) {
    const first = task.state === 'submitted'
    await db
      .update(tasks)
      .set({
        state: 'running',
        started: task.started ?? isoNow(),
        attempts: task.attempts + (first || task.seq === 0 ? 1 : 0),
        updated: isoNow(),
      })
      .where(eq(tasks.id, task.taskName))
    task = (await loadTask(env, task.taskName)) as TaskRecord
    if (first) await emitTaskEvent(env, task, 'begin')
  }

  const ctx = stepContext(env, task, log)
  let outcome: Awaited<ReturnType<typeof handler.step>>
  try {
    outcome = await handler.step(ctx)
  } catch (error) {
    if (error instanceof TaskFailure) return fail(ctx, error.exception, message)
    if (message.attempts < MAX_STEP_ATTEMPTS) {
      log.warn('task step failed, retrying', { error: String(error), attempt: message.attempts })
      message.retry({ delaySeconds: 2 ** message.attempts })
      return
    }
    return fail(
      ctx,
      { code: 'internal', message: `step failed ${message.attempts} times: ${String(error)}` },
      message,
    )
  }

  const next = task.seq + 1
  if (outcome.kind === 'continue') {
    const moved = await db
      .update(tasks)
      .set({
        cursor: JSON.stringify(outcome.cursor),
        progress: Math.min(1, Math.max(0, outcome.progress ?? task.progress)),
        seq: next,
        updated: isoNow(),
      })
      .where(and(eq(tasks.id, task.taskName), eq(tasks.seq, task.seq), eq(tasks.state, 'running')))
      .returning({ id: tasks.id })
    if (moved.length) {
      await env.TASKS.send(
        { taskName: task.taskName, seq: next },
        { delaySeconds: outcome.delaySec },
      )
    }
    message.ack()
    return
  }

  const result = outcome.result ?? {}
  const ended = await db
    .update(tasks)
    .set({
      state: 'succeeded',
      progress: 1,
      result: JSON.stringify(result),
      seq: next,
      ended: isoNow(),
      updated: isoNow(),
    })
    .where(and(eq(tasks.id, task.taskName), eq(tasks.seq, task.seq), eq(tasks.state, 'running')))
    .returning({ id: tasks.id })
  if (ended.length) {
    const done = (await loadTask(env, task.taskName)) as TaskRecord
    log.info('task succeeded', { type: done.type })
    await emitTaskEvent(env, done, 'end')
    await handler.onSucceeded?.(stepContext(env, done, log), result)
  }
  message.ack()
}

async function fail(ctx: StepContext, exception: TaskException, message: Message<TaskMessage>) {
  const { env, task, log } = ctx
  const failed = await dbOf(env)
    .update(tasks)
    .set({
      state: 'failed',
      exception: JSON.stringify(exception),
      ended: isoNow(),
      updated: isoNow(),
    })
    .where(and(eq(tasks.id, task.taskName), eq(tasks.seq, task.seq), eq(tasks.state, 'running')))
    .returning({ id: tasks.id })
  if (failed.length) {
    log.warn('task failed', { type: task.type, code: exception.code })
    const record = (await loadTask(env, task.taskName)) as TaskRecord
    await emitTaskEvent(env, record, 'error')
    await taskHandlers[task.type].onFailed?.({ ...ctx, task: record }, exception)
  }
  message.ack()
}
