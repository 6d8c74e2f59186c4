/**
 * The state of an app, derived from what its tasks are doing rather than stored, so it can never
 * drift from them: `locked` (a publish failed and no retry has succeeded yet) before `error` (its last build or training
 * run failed) before `processing` (an `mkraw` or `mkdxf` task is queued or running) before
 * `exporting` (a `deploy` task is queued or running) before `idle`.
 */
import { and, eq, inArray, sql } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { tasks } from '../../db/schema'
import type { Env } from '../../env'
import type { TaskException, TaskType } from '../../tasks/types'

export const APP_STATES = ['idle', 'processing', 'exporting', 'error', 'locked'] as const
export type AppState = (typeof APP_STATES)[number]

/** Task types whose queued or running work makes an app `processing`. */
const PROCESSING_TYPES: readonly TaskType[] = ['mkraw', 'mkdxf']
/** Task types whose last failure puts an app in `error`. */
const ERROR_TYPES: readonly TaskType[] = ['dltar', 'mkraw', 'mkdxf']

/** The newest task of one type that ended (succeeded or failed). */
export interface EndedTask {
  taskName: string
  state: 'succeeded' | 'failed'
  created: string
  exception: TaskException | null
}

/** What the tasks of one app are doing. */
export interface AppActivity {
  /** Types with a task in `submitted` or `running`. */
  active: Set<TaskType>
  /** The newest ended task of each type. */
  lastEnded: Map<TaskType, EndedTask>
}

/** The fields of the app object that say what it is doing. */
export type AppStatus = {
  state: AppState
  processing: boolean
  exporting: boolean
  locked: boolean
  /** Why the app is `locked` or in `error`; absent otherwise. */
  error?: string
}

const idleActivity = (): AppActivity => ({ active: new Set(), lastEnded: new Map() })

function failure(task: EndedTask): string {
  const reason = task.exception?.message ?? 'no reason recorded'
  return `task ${task.taskName} failed: ${reason}`
}

/**
 * The one place that decides an app's state. `row.locked` and `row.error` are flags other parts
 * may set (a failed publish, a broken app); tasks decide the rest.
 */
export function appStatus(
  row: { locked: boolean; error: string | null },
  activity: AppActivity = idleActivity(),
): AppStatus {
  const processing = PROCESSING_TYPES.some((type) => activity.active.has(type))
  const exporting = activity.active.has('deploy')

  // The deploy task sets and clears `row.locked` itself (a failed publish locks, a successful
  // retry unlocks); a later deploy refused with `appLocked` must not keep the app locked.
  const lastDeploy = activity.lastEnded.get('deploy')
  const deployFailed = lastDeploy?.state === 'failed'
  const locked = row.locked

  const lastWork = ERROR_TYPES.map((type) => activity.lastEnded.get(type))
    .filter((task): task is EndedTask => task !== undefined)
    .sort((a, b) => (a.created < b.created ? 1 : -1))[0]
  const workFailed = lastWork?.state === 'failed' && !processing

  let error: string | undefined
  if (locked) error = deployFailed && lastDeploy ? failure(lastDeploy) : (row.error ?? undefined)
  else if (row.error) error = row.error
  else if (workFailed && lastWork) error = failure(lastWork)

  const state: AppState = locked
    ? 'locked'
    : error
      ? 'error'
      : processing
        ? 'processing'
        : exporting
          ? 'exporting'
          : 'idle'
  return { state, processing, exporting, locked, ...(error ? { error } : {}) }
}

/** D1 allows 100 bound parameters per statement; app ids go in chunks well below that. */
const CHUNK = 50

/** Loads the activity of each app (one pair of queries per 50 apps). */
export async function appActivities(env: Env, appIds: string[]): Promise<Map<string, AppActivity>> {
  const db = dbOf(env)
  const result = new Map<string, AppActivity>(appIds.map((id) => [id, idleActivity()]))

  for (let i = 0; i < appIds.length; i += CHUNK) {
    const ids = appIds.slice(i, i + CHUNK)

    const active = await db
      .selectDistinct({ appId: tasks.appId, type: tasks.type })
      .from(tasks)
      .where(and(inArray(tasks.appId, ids), inArray(tasks.state, ['submitted', 'running'])))
      .all()
    for (const row of active) result.get(row.appId as string)?.active.add(row.type as TaskType)

    const ranked = db
      .select({
        appId: tasks.appId,
        type: tasks.type,
        taskName: tasks.id,
        state: tasks.state,
        created: tasks.created,
        exception: tasks.exception,
        rank: sql<number>`row_number() over (partition by ${tasks.appId}, ${tasks.type} order by ${tasks.created} desc, ${tasks.id} desc)`.as(
          'rank',
        ),
      })
      .from(tasks)
      .where(and(inArray(tasks.appId, ids), inArray(tasks.state, ['succeeded', 'failed'])))
      .as('ranked')
    const ended = await db.select().from(ranked).where(eq(ranked.rank, 1)).all()
    for (const row of ended) {
      result.get(row.appId as string)?.lastEnded.set(row.type as TaskType, {
        taskName: row.taskName,
        state: row.state as EndedTask['state'],
        created: row.created,
        exception: row.exception ? (JSON.parse(row.exception) as TaskException) : null,
      })
    }
  }
  return result
}
