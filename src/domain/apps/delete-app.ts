/**
 * Deleting an app: refused while its tasks run; a build upload still waiting is expired. The rows
 * go first (builds, patches, traces and runs cascade), so the name is free at once, then the
 * app's R2 prefix: inline up to a bound, the rest by a `prune` task, which also removes what the
 * app published to the org's origins (when the org has deployments).
 */
import { and, eq, inArray } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { apps, deployments, orgs, tasks, uploads } from '../../db/schema'
import type { Env } from '../../env'
import { conflict } from '../../http/errors'
import { appPrefix } from '../../storage/keys'
import { submitTask } from '../../tasks/service'
import { toRecord } from '../../tasks/store'
import type { AppPruneParams } from './erase-app'
import type { AppRow } from './find-app'
import { purgePrefix } from './purge'
import { expireWithUpload } from './upload-expiry'

/** Objects deleted inline before the rest is left to a `prune` task. */
export const INLINE_PURGE_MAX = 10_000

export interface DeletedApp {
  /** R2 objects deleted during the request. */
  objectsDeleted: number
  /** The `prune` task deleting what remains: more objects, or files published to origins. */
  pruneTaskName?: string
}

/** Deletes `row` and its data; 409 while one of its tasks is queued or running. */
export async function deleteApp(env: Env, row: AppRow): Promise<DeletedApp> {
  const db = dbOf(env)
  const open = await db
    .select()
    .from(tasks)
    .where(and(eq(tasks.appId, row.id), inArray(tasks.state, ['submitted', 'running'])))
    .all()
  const waitingIds = new Set<string>()
  const dltars = open.filter((task) => task.type === 'dltar' && task.state === 'submitted')
  if (dltars.length) {
    const pending = await db
      .select({ taskId: uploads.taskId })
      .from(uploads)
      .where(
        and(
          inArray(
            uploads.taskId,
            dltars.map((task) => task.id),
          ),
          eq(uploads.used, false),
        ),
      )
      .all()
    for (const upload of pending) waitingIds.add(upload.taskId)
  }
  const busy = open.find((task) => !waitingIds.has(task.id))
  if (busy) {
    throw conflict(
      `app ${row.name} has ${busy.type} task ${busy.id} ${busy.state}; delete it when that task ends`,
    )
  }

  for (const task of open) await expireWithUpload(env, toRecord(task))
  await db.delete(apps).where(eq(apps.id, row.id))

  const purge = await purgePrefix(env.BUCKET, appPrefix(row.orgId, row.id), INLINE_PURGE_MAX)
  const origins = await db
    .select({ id: deployments.id })
    .from(deployments)
    .where(eq(deployments.orgId, row.orgId))
    .limit(1)
    .get()
  if (!purge.more && !origins) return { objectsDeleted: purge.deleted }

  const org = await db.select({ name: orgs.name }).from(orgs).where(eq(orgs.id, row.orgId)).get()
  const params: AppPruneParams = {
    scope: 'app',
    orgId: row.orgId,
    appId: row.id,
    ...(origins && org ? { orgName: org.name, appName: row.name } : {}),
  }
  const pruneTaskName = await submitTask(env, {
    type: 'prune',
    orgId: row.orgId,
    appId: row.id,
    appName: row.name,
    params: { ...params },
  })
  return { objectsDeleted: purge.deleted, pruneTaskName }
}
