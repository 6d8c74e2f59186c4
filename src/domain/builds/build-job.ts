/**
 * What every step of a build's tasks (`dltar`, `mkraw`) works on: the build, its app, its R2
 * keys and the step size. Loaded afresh by each step from the task's params, so a step depends
 * on nothing kept in memory.
 */
import { and, eq } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { apps, builds } from '../../db/schema'
import type { Env } from '../../env'
import { buildKeys, dxfNameOf } from '../../storage/keys'
import { MiB } from '../../storage/multipart'
import { TaskFailure, type TaskRecord } from '../../tasks/types'
import { workKeys } from './work-keys'

/** Bytes of tar, image or patch a step reads or writes unless `params.stepBytes` says. */
export const BUILD_STEP_BYTES = 64 * MiB

export type BuildRow = typeof builds.$inferSelect
export type AppRow = typeof apps.$inferSelect

export interface BuildJob {
  env: Env
  bucket: R2Bucket
  app: AppRow
  build: BuildRow
  orgId: string
  appId: string
  buildId: number
  tarKey: string
  keys: ReturnType<typeof buildKeys>
  work: ReturnType<typeof workKeys>
  /** Name of the build's first image, `dxf-<buildId>-01`. */
  dxfName: string
  stepBytes: number
}

/** Loads the job of `task`; fails the task when its app or build is gone. */
export async function loadBuildJob(env: Env, task: TaskRecord): Promise<BuildJob> {
  const buildId = Number(task.params.buildId)
  const appId = task.appId
  if (!appId || !task.orgId || !Number.isInteger(buildId)) {
    throw new TaskFailure({ code: 'badParams', message: `${task.type} needs an app and a buildId` })
  }
  const db = dbOf(env)
  const app = await db.select().from(apps).where(eq(apps.id, appId)).get()
  const build = await db
    .select()
    .from(builds)
    .where(and(eq(builds.appId, appId), eq(builds.buildId, buildId)))
    .get()
  if (!app || !build || build.state === 'deleted') {
    throw new TaskFailure({
      code: 'buildGone',
      message: `build ${buildId} of app ${task.appName ?? appId} no longer exists`,
    })
  }
  const keys = buildKeys(task.orgId, appId, buildId)
  const stepBytes = Number(task.params.stepBytes ?? BUILD_STEP_BYTES)
  return {
    env,
    bucket: env.BUCKET,
    app,
    build,
    orgId: task.orgId,
    appId,
    buildId,
    tarKey: build.tarKey ?? keys.tar,
    keys,
    work: workKeys(task.orgId, appId, buildId),
    dxfName: dxfNameOf(buildId, 1),
    stepBytes: Number.isInteger(stepBytes) && stepBytes > 0 ? stepBytes : BUILD_STEP_BYTES,
  }
}
