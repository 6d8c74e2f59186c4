/** Reading and writing task rows, and the public view of a task. */
import { eq } from 'drizzle-orm'
import { dbOf, isoNow } from '../db/client'
import { tasks } from '../db/schema'
import type { Env } from '../env'
import type { TaskRecord, TaskState, TaskType } from './types'

type TaskRow = typeof tasks.$inferSelect

const parse = <T>(text: string | null, fallback: T): T =>
  text ? (JSON.parse(text) as T) : fallback

/** A task row with its JSON parsed. */
export function toRecord(row: TaskRow): TaskRecord {
  return {
    taskName: row.id,
    orgId: row.orgId,
    appId: row.appId,
    type: row.type as TaskType,
    state: row.state as TaskState,
    appName: row.appName,
    buildName: row.buildName,
    progress: row.progress,
    attempts: row.attempts,
    seq: row.seq,
    params: parse(row.params, {}),
    cursor: parse(row.cursor, null),
    result: parse(row.result, null),
    warnings: parse(row.warnings, []),
    exception: parse(row.exception, null),
    created: row.created,
    started: row.started,
    ended: row.ended,
  }
}

/** Loads a task by name (any org). */
export async function loadTask(env: Env, taskName: string): Promise<TaskRecord | null> {
  const row = await dbOf(env).select().from(tasks).where(eq(tasks.id, taskName)).get()
  return row ? toRecord(row) : null
}

/** The task as API.md shows it. */
export function taskView(task: TaskRecord) {
  return {
    taskName: task.taskName,
    type: task.type,
    state: task.state,
    appName: task.appName,
    buildName: task.buildName,
    created: task.created,
    started: task.started,
    ended: task.ended,
    progress: task.progress,
    attempts: task.attempts,
    warnings: task.warnings,
    exception: task.exception,
    result: task.result,
  }
}

/** A task name: `<type>-<time>-<random>`, unique and sortable by creation. */
export function newTaskName(type: TaskType): string {
  const stamp = isoNow()
    .replace(/[-:.TZ]/g, '')
    .slice(0, 14)
  const random = crypto.randomUUID().slice(0, 8)
  return `${type}_${stamp}_${random}`
}
