/**
 * What every step of an `mkdxf` run works on: the app, the build it trains (the current build
 * when the run was submitted) and the run's scratch objects in R2. Loaded afresh by each step.
 */
import { and, eq } from 'drizzle-orm'
import { dbOf } from '../../../db/client'
import { apps, builds } from '../../../db/schema'
import type { Env } from '../../../env'
import { appPrefix, buildIdText } from '../../../storage/keys'
import { TaskFailure, type TaskRecord } from '../../../tasks/types'
import type { AppRow } from '../../apps/find-app'

export type BuildRow = typeof builds.$inferSelect

export interface RunJob {
  env: Env
  task: TaskRecord
  orgId: string
  orgName: string
  app: AppRow
  build: BuildRow
  buildId: number
  scratch: ReturnType<typeof scratchKeys>
}

/** Objects a run needs only while it runs; removed when it ends. */
export function scratchKeys(orgId: string, appId: string, buildId: number, taskName: string) {
  const prefix = `${appPrefix(orgId, appId)}training/${buildIdText(buildId)}/runs/${taskName}/`
  return {
    prefix,
    candidate: `${prefix}candidate-order.bin`,
    header: `${prefix}image-header.bin`,
    geometry: `${prefix}geometry.bin`,
    /** The traces an evaluation measures, named by the list's content id. */
    sample: (sampleId: string) => `${prefix}evaluation/${sampleId}/traces.json`,
    /** P* of one fold's held-out traces on the order of one method. */
    fold: (sampleId: string, method: string, fold: number) =>
      `${prefix}evaluation/${sampleId}/${method}/fold-${fold}.json`,
  }
}

/** Loads the run of `task`; fails it when its app or build is gone. */
export async function loadRunJob(env: Env, task: TaskRecord): Promise<RunJob> {
  const buildId = Number(task.params.buildId)
  const orgName = task.params.orgName
  if (!task.orgId || !task.appId || !Number.isInteger(buildId) || typeof orgName !== 'string') {
    throw new TaskFailure({ code: 'badParams', message: 'mkdxf needs an app and a buildId' })
  }
  const db = dbOf(env)
  const app = await db.select().from(apps).where(eq(apps.id, task.appId)).get()
  const build = await db
    .select()
    .from(builds)
    .where(and(eq(builds.appId, task.appId), eq(builds.buildId, buildId)))
    .get()
  if (!app || !build || build.state !== 'ready') {
    throw new TaskFailure({
      code: 'buildGone',
      message: `build ${buildId} of app ${task.appName ?? task.appId} is no longer kept`,
    })
  }
  return {
    env,
    task,
    orgId: task.orgId,
    orgName,
    app,
    build,
    buildId,
    scratch: scratchKeys(task.orgId, task.appId, buildId, task.taskName),
  }
}
