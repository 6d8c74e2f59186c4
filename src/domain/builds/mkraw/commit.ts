/**
 * The last step of mkraw: the build becomes ready and, unless a newer build is current already,
 * current (`iCurBuild`, `dxfName`); the oldest builds beyond `maxBuilds` go; a `deploy` task
 * publishes. Every write is conditional or keyed, so running this step twice changes nothing.
 */
import { and, eq, isNull, lte, or } from 'drizzle-orm'
import { dbOf, isoNow } from '../../../db/client'
import { apps, builds } from '../../../db/schema'
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
  // Training moves to the new build first (evict-builds.ts), while the old one is still there.
  const evicted = await evictOldBuilds(job.env, app, log)

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
