/**
 * Last step of a run that won: the new image gets its `profile.json`, becomes the build's and
 * the app's current image, and a `deploy` task publishes it. Every write is conditional or
 * keyed by the task, so the step can run twice.
 */
import { and, eq } from 'drizzle-orm'
import { dbOf, isoNow } from '../../../db/client'
import { apps, builds } from '../../../db/schema'
import type { LoadProfile } from '../../../engine/profile'
import { imageKeys } from '../../../storage/keys'
import { submitTask } from '../../../tasks/service'
import { purgePrefix } from '../../apps/purge'
import type { RunJob } from './run-job'

/** The deploy task of an mkdxf task: same suffix, so a rerun submits the same one. */
export function deployTaskNameOf(mkdxfTaskName: string): string {
  return `deploy_${mkdxfTaskName.replace(/^mkdxf_/, '')}`
}

/** Makes `dxfName` current and submits its deploy; null when the build stopped being current. */
export async function publishImage(
  job: RunJob,
  dxfName: string,
  profile: LoadProfile,
): Promise<string | null> {
  const { env, orgId, buildId } = job
  const appId = job.app.id
  await env.BUCKET.put(imageKeys(orgId, appId, dxfName).profile, JSON.stringify(profile), {
    httpMetadata: { contentType: 'application/json' },
  })

  const db = dbOf(env)
  await db
    .update(builds)
    .set({ dxfName })
    .where(and(eq(builds.appId, appId), eq(builds.buildId, buildId), eq(builds.state, 'ready')))
  const made = await db
    .update(apps)
    .set({ dxfName, updated: isoNow() })
    .where(and(eq(apps.id, appId), eq(apps.iCurBuild, buildId)))
    .returning({ id: apps.id })
  if (made.length === 0) return null

  return submitTask(env, {
    type: 'deploy',
    taskName: deployTaskNameOf(job.task.taskName),
    orgId,
    appId,
    appName: job.app.name,
    buildName: job.build.buildName,
    params: { appId, buildId, dxfName },
  })
}

/** Removes the run's scratch objects. */
export async function dropScratch(job: RunJob): Promise<void> {
  await purgePrefix(job.env.BUCKET, job.scratch.prefix)
}
