/**
 * Housekeeping for the cron: a build whose upload URL expired unused has its `dltar` task
 * expired and the build marked failed, so nothing waits for a PUT that can no longer come.
 */
import { and, eq, lte } from 'drizzle-orm'
import { dbOf, isoNow } from '../../db/client'
import { tasks, uploads } from '../../db/schema'
import type { Env } from '../../env'
import { ApiError } from '../../http/errors'
import { toRecord } from '../../tasks/store'
import { expireWithUpload } from '../apps/upload-expiry'

/** Upload tasks handled per cron run; the rest waits for the next one. */
const BATCH = 100

/** Expires the tasks of upload URLs that expired unused; returns how many. */
export async function expireStaleUploads(env: Env, now = isoNow()): Promise<number> {
  const stale = await dbOf(env)
    .select({ task: tasks })
    .from(uploads)
    .innerJoin(tasks, eq(tasks.id, uploads.taskId))
    .where(and(eq(uploads.used, false), lte(uploads.expires, now), eq(tasks.state, 'submitted')))
    .limit(BATCH)
    .all()
  let expired = 0
  for (const { task } of stale) {
    try {
      await expireWithUpload(env, toRecord(task))
      expired++
    } catch (error) {
      // A PUT claimed it meanwhile (409): it is no longer waiting.
      if (!(error instanceof ApiError)) throw error
    }
  }
  return expired
}
