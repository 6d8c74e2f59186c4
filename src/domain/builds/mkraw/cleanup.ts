/**
 * What a failed mkraw leaves behind: nothing visible. Open multipart uploads are aborted, the
 * tables, work objects, image and patches of the build are deleted, the build is marked
 * `failed`, and the app keeps its current build. A tar that cannot be read is deleted too (a
 * retry could not help); otherwise it stays, and the cursor is reset so that `retryTask` runs
 * mkraw again from the start.
 */
import { and, eq, inArray } from 'drizzle-orm'
import { dbOf } from '../../../db/client'
import { builds, patches, tasks } from '../../../db/schema'
import { appPrefix, buildIdText } from '../../../storage/keys'
import { abortUpload } from '../../../storage/multipart'
import { type AppendState, abandonAppend } from '../../../storage/multipart-append'
import type { StepContext, TaskException } from '../../../tasks/types'
import { buildImagesPrefix } from '../../apps/evict-builds'
import { purgePrefix } from '../../apps/purge'
import { loadBuildJob } from '../build-job'
import { TAR_CONTENT_CODES } from './tar-failure'
import type { CompositionWrite } from './write-composition'

interface OpenUploads {
  files?: AppendState
  blocks?: AppendState
  write?: CompositionWrite
}

/** Undoes a failed mkraw (the task's `onFailed`). */
export async function cleanupFailedMkraw(ctx: StepContext, exception: TaskException) {
  const { env, task } = ctx
  let job: Awaited<ReturnType<typeof loadBuildJob>>
  try {
    job = await loadBuildJob(env, task)
  } catch {
    return // the app or build is gone, and its objects with it
  }
  if (job.build.state === 'ready') return // committed before the failure: it stays

  const open = (task.cursor ?? {}) as OpenUploads
  await abandonAppend(job.bucket, open.files)
  await abandonAppend(job.bucket, open.blocks)
  await abortUpload(job.bucket, open.write?.upload)

  await purgePrefix(job.bucket, job.work.prefix)
  await job.bucket.delete([job.keys.files, job.keys.blocks])
  await purgePrefix(job.bucket, buildImagesPrefix(job.orgId, job.appId, job.buildId))
  await purgePrefix(
    job.bucket,
    `${appPrefix(job.orgId, job.appId)}patches/${buildIdText(job.buildId)}/`,
  )
  const db = dbOf(env)
  await db
    .delete(patches)
    .where(and(eq(patches.appId, job.appId), eq(patches.toBuildId, job.buildId)))

  const unreadable = (TAR_CONTENT_CODES as readonly string[]).includes(exception.code)
  if (unreadable) await job.bucket.delete(job.tarKey)
  await db
    .update(builds)
    .set({ state: 'failed' })
    .where(and(eq(builds.id, job.build.id), inArray(builds.state, ['pending', 'importing'])))
  await db.update(tasks).set({ cursor: null }).where(eq(tasks.id, task.taskName))
  ctx.log.info('failed build cleaned up', { buildId: job.buildId, tarKept: !unreadable })
}
