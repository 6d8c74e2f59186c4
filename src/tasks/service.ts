/**
 * Task lifecycle: submit, start, retry a failed task from its saved step, and expire a task that
 * waits for an upload. State changes emit the webhook events of API.md.
 */
import { and, eq } from 'drizzle-orm'
import { dbOf, isoNow } from '../db/client'
import { tasks } from '../db/schema'
import type { Env } from '../env'
import { emitTaskEvent } from '../events/emit'
import { conflict } from '../http/errors'
import { loadTask, newTaskName } from './store'
import type { TaskRecord, TaskType } from './types'

export interface SubmitTaskInput {
  type: TaskType
  orgId: string | null
  appId?: string | null
  appName?: string | null
  buildName?: string | null
  params?: Record<string, unknown>
  /** False for a task that waits for something else (an upload) before its first step. */
  start?: boolean
  /** Use this name (for idempotent submission from a step that may run twice). */
  taskName?: string
}

/** Inserts a task and, unless `start` is false, queues its first step. Returns the task name. */
export async function submitTask(env: Env, input: SubmitTaskInput): Promise<string> {
  const taskName = input.taskName ?? newTaskName(input.type)
  const inserted = await dbOf(env)
    .insert(tasks)
    .values({
      id: taskName,
      orgId: input.orgId,
      appId: input.appId ?? null,
      type: input.type,
      state: 'submitted',
      appName: input.appName ?? null,
      buildName: input.buildName ?? null,
      params: JSON.stringify(input.params ?? {}),
    })
    .onConflictDoNothing()
    .returning({ id: tasks.id })
  if (inserted.length === 0) return taskName

  const task = await loadTask(env, taskName)
  if (task) await emitTaskEvent(env, task, 'submit')
  if (input.start !== false) await env.TASKS.send({ taskName, seq: 0 })
  return taskName
}

/** Queues the first step of a task submitted with `start: false`. */
export async function startTask(env: Env, taskName: string): Promise<void> {
  const task = await loadTask(env, taskName)
  if (task?.state !== 'submitted') return
  await env.TASKS.send({ taskName, seq: task.seq })
}

/** Resumes a failed task from the step that failed (its saved cursor). 409 unless it failed. */
export async function retryTask(env: Env, task: TaskRecord): Promise<void> {
  if (task.state !== 'failed')
    throw conflict(`task ${task.taskName} is ${task.state}; only a failed task can be retried`)
  const seq = task.seq + 1
  const updated = await dbOf(env)
    .update(tasks)
    .set({
      state: 'running',
      exception: null,
      ended: null,
      seq,
      attempts: task.attempts + 1,
      updated: isoNow(),
    })
    .where(and(eq(tasks.id, task.taskName), eq(tasks.state, 'failed')))
    .returning({ id: tasks.id })
  if (updated.length === 0) throw conflict(`task ${task.taskName} changed meanwhile; read it again`)
  await env.TASKS.send({ taskName: task.taskName, seq })
}

/** Ends a task that waits in `submitted` (an upload that went wrong). 409 otherwise. */
export async function expireTask(env: Env, task: TaskRecord): Promise<TaskRecord> {
  if (task.state !== 'submitted') {
    throw conflict(`task ${task.taskName} is ${task.state}; only a submitted task can be expired`)
  }
  const updated = await dbOf(env)
    .update(tasks)
    .set({ state: 'expired', ended: isoNow(), seq: task.seq + 1, updated: isoNow() })
    .where(and(eq(tasks.id, task.taskName), eq(tasks.state, 'submitted')))
    .returning({ id: tasks.id })
  if (updated.length === 0) throw conflict(`task ${task.taskName} changed meanwhile; read it again`)
  const expired = (await loadTask(env, task.taskName)) as TaskRecord
  await emitTaskEvent(env, expired, 'error')
  return expired
}
