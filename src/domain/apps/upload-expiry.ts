/**
 * Expiring a task, and with a `dltar` that waits for an upload also its upload URL (a later PUT
 * answers 410) and its build (marked failed), so nothing is left half-open.
 */
import { and, eq, inArray } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { builds, uploads } from '../../db/schema'
import type { Env } from '../../env'
import { expireTask } from '../../tasks/service'
import type { TaskRecord } from '../../tasks/types'

/** Expires `task` (409 unless it is `submitted`) and closes its upload. */
export async function expireWithUpload(env: Env, task: TaskRecord): Promise<TaskRecord> {
  const expired = await expireTask(env, task)
  if (task.type !== 'dltar') return expired

  const db = dbOf(env)
  await db.update(uploads).set({ used: true }).where(eq(uploads.taskId, task.taskName))
  if (task.appId && task.buildName) {
    await db
      .update(builds)
      .set({ state: 'failed' })
      .where(
        and(
          eq(builds.appId, task.appId),
          eq(builds.buildName, task.buildName),
          inArray(builds.state, ['pending', 'importing']),
        ),
      )
  }
  return expired
}
