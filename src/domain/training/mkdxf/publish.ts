/**
 * Last steps of a run that won: the new image gets its `profile.json` and becomes the build's
 * and the app's current image; once the patches into it are remade, a `deploy` task publishes
 * it. The image it replaces is retired in the same batch as the switch: the depot serves it
 * 24 h more (launchers mid-download), then the cron deletes it. Every write is conditional or
 * keyed by the task, so each step can run twice.
 */
import { and, eq } from 'drizzle-orm'
import { dbOf, isoNow } from '../../../db/client'
import { apps, builds, retiredFiles } from '../../../db/schema'
import type { LoadProfile } from '../../../engine/profile'
import { imageKeys } from '../../../storage/keys'
import { submitTask } from '../../../tasks/service'
import { purgePrefix } from '../../apps/purge'
import { retiredRows } from '../../deployments/retired-files'
import type { RunJob } from './run-job'

/** The deploy task of an mkdxf task: same suffix, so a rerun submits the same one. */
export function deployTaskNameOf(mkdxfTaskName: string): string {
  return `deploy_${mkdxfTaskName.replace(/^mkdxf_/, '')}`
}

/**
 * Makes `dxfName` current; false when the build stopped being current. The build's own image
 * changes, and the one it replaces is retired, only when the app's did: launchers of a build
 * that is no longer current keep the image they have, and later patches from that build start
 * from it.
 */
export async function switchImage(
  job: RunJob,
  dxfName: string,
  profile: LoadProfile,
): Promise<boolean> {
  const { env, orgId, buildId } = job
  const appId = job.app.id
  await env.BUCKET.put(imageKeys(orgId, appId, dxfName).profile, JSON.stringify(profile), {
    httpMetadata: { contentType: 'application/json' },
  })

  // A rerun after the switch went through (the build is switched only after the app was).
  if (job.build.dxfName === dxfName) return true
  const db = dbOf(env)
  const made = await db
    .update(apps)
    .set({ dxfName, updated: isoNow() })
    .where(and(eq(apps.id, appId), eq(apps.iCurBuild, buildId)))
    .returning({ id: apps.id })
  if (made.length === 0) return false

  // A rerun finds the build on the new image already: what it replaced was retired then.
  const replaced = job.build.dxfName && job.build.dxfName !== dxfName ? job.build.dxfName : null
  const old = replaced ? imageKeys(orgId, appId, replaced) : null
  const retired = old ? await retiredRows(orgId, null, [old.image, old.profile]) : []
  await db.batch([
    db
      .update(builds)
      .set({ dxfName })
      .where(and(eq(builds.appId, appId), eq(builds.buildId, buildId), eq(builds.state, 'ready'))),
    ...retired.map((row) => db.insert(retiredFiles).values(row).onConflictDoNothing()),
  ])
  return true
}

/** Submits the deploy of `dxfName`, the build's image since `switchImage`; its task name. */
export async function submitDeploy(job: RunJob, dxfName: string): Promise<string> {
  const { env, orgId, buildId } = job
  const appId = job.app.id
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
