/**
 * The last step of mkraw: the build becomes ready and, unless a newer build is current already,
 * current (`iCurBuild`, `dxfName`); the oldest builds beyond `maxBuilds` go; a `deploy` task
 * publishes. Every write is conditional or keyed, so running this step twice changes nothing.
 */
import { and, eq, isNull, lte, or } from 'drizzle-orm'
import { coordinatorOf } from '../../../coordinator/app-coordinator'
import { dbOf, isoNow } from '../../../db/client'
import { apps, builds, orgs } from '../../../db/schema'
import type { Logger } from '../../../http/log'
import { submitTask } from '../../../tasks/service'
import type { TaskRecord } from '../../../tasks/types'
import { evictOldBuilds } from '../../apps/evict-builds'
import { purgePrefix } from '../../apps/purge'
import type { BuildJob } from '../build-job'

export interface CommitResult {
  current: boolean
  evicted: number[]
  deployTaskName: string | null
}

/** The deploy task of an mkraw task: same suffix, so a rerun submits the same one. */
export function deployTaskNameOf(mkrawTaskName: string): string {
  return `deploy_${mkrawTaskName.replace(/^mkraw_/, '')}`
}

/** Tells the app's coordinator that its current build changed; false when that failed. */
async function trainingFollowed(
  job: BuildJob,
  app: typeof apps.$inferSelect,
  log: Logger,
): Promise<boolean> {
  const db = dbOf(job.env)
  const org = await db.select({ name: orgs.name }).from(orgs).where(eq(orgs.id, app.orgId)).get()
  if (!org) return false
  try {
    await coordinatorOf(job.env, org.name, app.name).buildCommitted({
      orgId: app.orgId,
      orgName: org.name,
      appId: app.id,
      appName: app.name,
    })
    return true
  } catch (error) {
    log.warn('training not moved to the new build; eviction postponed', {
      error: String(error),
    })
    return false
  }
}

export async function commitBuild(
  job: BuildJob,
  task: TaskRecord,
  log: Logger,
): Promise<CommitResult> {
  const db = dbOf(job.env)
  await db.batch([
    db
      .update(builds)
      .set({ state: 'ready', dxfName: job.dxfName })
      .where(and(eq(builds.id, job.build.id), eq(builds.state, 'importing'))),
    db
      .update(apps)
      .set({ iCurBuild: job.buildId, dxfName: job.dxfName, updated: isoNow() })
      .where(
        and(eq(apps.id, job.appId), or(isNull(apps.iCurBuild), lte(apps.iCurBuild, job.buildId))),
      ),
  ])
  const app = await db.select().from(apps).where(eq(apps.id, job.appId)).get()
  if (!app) return { current: false, evicted: [], deployTaskName: null }
  const current = app.iCurBuild === job.buildId
  // Training follows the new build before eviction can take the build it learnt on; when it
  // cannot be told, the old builds stay until the next commit or `maxBuilds` change.
  const followed = !current || (await trainingFollowed(job, app, log))
  const evicted = followed ? await evictOldBuilds(job.env, app) : []

  let deployTaskName: string | null = null
  if (current) {
    deployTaskName = await submitTask(job.env, {
      type: 'deploy',
      taskName: deployTaskNameOf(task.taskName),
      orgId: job.orgId,
      appId: job.appId,
      appName: app.name,
      buildName: job.build.buildName,
      params: { appId: job.appId, buildId: job.buildId, dxfName: job.dxfName },
    })
  }
  await purgePrefix(job.bucket, job.work.prefix)
  return { current, evicted, deployTaskName }
}
