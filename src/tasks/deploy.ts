/**
 * The `deploy` task: publishes an app's current image and the patches to its build to every
 * deployment the app lists (all of the org's when it lists none), in bounded steps.
 *
 * - Admission (first step): waits while another deploy of the app is ahead of it, then refuses
 *   with `appLocked` while a failed publish holds the app. A retried task resumes past this
 *   point, which is what lets the retry of the failed publish through.
 * - Publishing: one file, or one part of a large file, per step; after the first file on a
 *   deployment not yet checked, a ranged GET must answer 206 with the right bytes. Then the
 *   app's other files on that origin are retired (deleted 24 h later) and the deployment is ok.
 * - A failure names the deployment, sets its status `error`, and locks the app; a successful
 *   retry unlocks it. If the app's image changed meanwhile, the task publishes the new one.
 */
import { and, eq, gt, inArray, lt, ne, or, sql } from 'drizzle-orm'
import { dbOf, isoNow } from '../db/client'
import { apps, deployments, tasks } from '../db/schema'
import { originStamp } from '../domain/deployments/deployment-store'
import { originOf, originPath } from '../domain/deployments/origin-of'
import {
  type FileProgress,
  publishUnit,
  verifyRange,
  withRetries,
} from '../domain/deployments/publish-file'
import { type PublishPlan, planPublish } from '../domain/deployments/publish-plan'
import { keepKey, retireKeys } from '../domain/deployments/retired-files'
import { OriginError } from '../domain/origins/origin'
import { buildIdText } from '../storage/keys'
import {
  type StepContext,
  type StepOutcome,
  type TaskException,
  TaskFailure,
  type TaskHandler,
  type TaskRecord,
} from './types'

/** Where a deploy stands; saved after every step. */
interface DeployCursor {
  phase: 'queued' | 'publish'
  plan?: PublishPlan
  /** Index of the deployment being published. */
  d: number
  /** Index of the file being sent to it. */
  f: number
  /** `originStamp` of that deployment when its files started; a change restarts them. */
  stamp?: string
  /** The multipart upload of file `f`, when one is open. */
  file?: FileProgress
  /** After the files: which area (0 dxf, 1 pat) is being listed for retired files. */
  retire?: { area: number; next?: string }
  bytesDone: number
  published: string[]
}

/** Seconds between checks while another deploy of the app is ahead. */
const WAIT_SEC = 3
/** A deploy that has not moved for this long no longer holds others back. */
const STALE_SEC = 3600
/** Failures that never touched an origin: they neither lock the app nor mark a deployment. */
const NO_LOCK = new Set(['appLocked', 'appNotFound', 'noImage', 'imageMissing', 'badParams'])
const AREAS = ['dxf', 'pat'] as const

/** The app's id: the task's, or the one its params name. */
const appIdOf = (task: TaskRecord) =>
  task.appId ?? (typeof task.params.appId === 'string' ? task.params.appId : '')

async function loadApp(ctx: StepContext) {
  const { env, task } = ctx
  if (!task.orgId) return undefined
  return dbOf(env)
    .select()
    .from(apps)
    .where(and(eq(apps.id, appIdOf(task)), eq(apps.orgId, task.orgId)))
    .get()
}

/** Another unfinished deploy of the same app that goes first: older, or already publishing. */
async function deployAhead(ctx: StepContext): Promise<string | undefined> {
  const { env, task } = ctx
  const row = await dbOf(env)
    .select({ id: tasks.id })
    .from(tasks)
    .where(
      and(
        eq(tasks.type, 'deploy'),
        eq(tasks.appId, appIdOf(task)),
        ne(tasks.id, task.taskName),
        inArray(tasks.state, ['submitted', 'running']),
        gt(tasks.updated, isoNow(-STALE_SEC)),
        or(
          lt(tasks.created, task.created),
          and(eq(tasks.created, task.created), lt(tasks.id, task.taskName)),
          sql`json_extract(${tasks.cursor}, '$.phase') = 'publish'`,
        ),
      ),
    )
    .get()
  return row?.id
}

const warnOf = (ctx: StepContext) => (message: string) => ctx.warn('deployment', message)

const fresh = (plan: PublishPlan): DeployCursor => ({
  phase: 'publish',
  plan,
  d: 0,
  f: 0,
  bytesDone: 0,
  published: [],
})

function progressOf(cursor: DeployCursor): number {
  const plan = cursor.plan
  const total = plan ? plan.bytes * plan.deploymentIds.length : 0
  return total ? Math.min(0.99, cursor.bytesDone / total) : 0
}

const next = (cursor: DeployCursor): StepOutcome => ({
  kind: 'continue',
  cursor: cursor as unknown as Record<string, unknown>,
  progress: progressOf(cursor),
})

async function admit(ctx: StepContext): Promise<StepOutcome> {
  const app = await loadApp(ctx)
  if (!app) throw new TaskFailure({ code: 'appNotFound', message: 'the app no longer exists' })

  const ahead = await deployAhead(ctx)
  if (ahead) {
    ctx.log.debug('deploy waits for another', { ahead })
    return {
      kind: 'continue',
      cursor: { phase: 'queued', waitingFor: ahead },
      progress: 0,
      delaySec: WAIT_SEC,
    }
  }
  if (app.locked) {
    throw new TaskFailure({
      code: 'appLocked',
      message:
        `app ${app.name} is locked by a failed publish; fix the deployment and retry ` +
        'the failed deploy task',
    })
  }
  return next(fresh(await planPublish(ctx.env, app, warnOf(ctx))))
}

/** One bounded unit of work on deployment `cursor.d`. */
async function publishStep(ctx: StepContext, saved: DeployCursor): Promise<StepOutcome> {
  const { env, task } = ctx
  const app = await loadApp(ctx)
  if (!app) return { kind: 'done', result: { published: false, reason: 'the app was deleted' } }

  const plan = saved.plan as PublishPlan
  if (app.iCurBuild !== plan.buildId || app.dxfName !== plan.dxfName) {
    ctx.log.info('image changed during publish; publishing the new one', { dxfName: app.dxfName })
    return next(fresh(await planPublish(env, app, warnOf(ctx))))
  }

  if (saved.d >= plan.deploymentIds.length) {
    return {
      kind: 'done',
      result: {
        buildId: plan.buildId,
        dxfName: plan.dxfName,
        deployments: saved.published,
        files: plan.files.length,
        bytes: saved.bytesDone,
      },
    }
  }

  const db = dbOf(env)
  const deploymentId = plan.deploymentIds[saved.d]
  const deployment = await db
    .select()
    .from(deployments)
    .where(eq(deployments.id, deploymentId))
    .get()
  const nextDeployment = (cursor: DeployCursor): DeployCursor => ({
    ...cursor,
    d: cursor.d + 1,
    f: 0,
    stamp: undefined,
    file: undefined,
    retire: undefined,
  })
  if (!deployment) return next(nextDeployment(saved))

  const stamp = await originStamp(deployment)
  const cursor: DeployCursor =
    saved.stamp === stamp ? saved : { ...saved, stamp, f: 0, file: undefined, retire: undefined }

  try {
    const origin = await originOf(env, deployment)

    if (cursor.f < plan.files.length) {
      const file = plan.files[cursor.f]
      const key = originPath(deployment.originPrefix, file.path)
      const asked = task.params.partSizeBytes
      const wanted = typeof asked === 'number' && Number.isFinite(asked) ? asked : undefined
      const unit = await withRetries(() => publishUnit(env, origin, file, key, cursor.file, wanted))
      const bytesDone = cursor.bytesDone + unit.bytes
      if (!unit.done) return next({ ...cursor, bytesDone, file: unit.progress })

      await keepKey(env, deployment.id, key)
      if (!deployment.rangeVerified) {
        const checked = await withRetries(() => verifyRange(env, origin, file, key))
        if (checked) {
          await db
            .update(deployments)
            .set({ rangeVerified: true })
            .where(eq(deployments.id, deployment.id))
        }
      }
      return next({ ...cursor, bytesDone, f: cursor.f + 1, file: undefined })
    }

    const retire = cursor.retire ?? { area: 0 }
    if (retire.area < AREAS.length) {
      const area = `${AREAS[retire.area]}/${plan.orgName}/${plan.appName}/`
      const page = await withRetries(() =>
        origin.list(originPath(deployment.originPrefix, area), retire.next),
      )
      const live = new Set(plan.files.map((f) => originPath(deployment.originPrefix, f.path)))
      const replaced = page.keys.filter((key) => !live.has(key))
      await retireKeys(env, deployment.orgId, deployment.id, replaced)
      const moved = page.next ? { area: retire.area, next: page.next } : { area: retire.area + 1 }
      return next({ ...cursor, retire: moved })
    }

    const message =
      `published ${plan.dxfName} (build ${buildIdText(plan.buildId)}) of app ${plan.appName}: ` +
      `${plan.files.length} files, ${plan.bytes} bytes`
    await db
      .update(deployments)
      .set({ status: 'ok', message, updated: isoNow() })
      .where(eq(deployments.id, deployment.id))
    ctx.log.info('deployment published', { deployment: deployment.name, dxfName: plan.dxfName })
    return next(nextDeployment({ ...cursor, published: [...cursor.published, deployment.name] }))
  } catch (error) {
    if (error instanceof OriginError) {
      throw new TaskFailure({
        code: error.code,
        message: `deployment ${deployment.name}: ${error.message}`,
        deployment: deployment.name,
        ...(error.httpStatus !== undefined ? { httpStatus: error.httpStatus } : {}),
      })
    }
    throw error
  }
}

/** The deployment a failure belongs to: named in the exception, else the one in progress. */
async function failedDeployment(ctx: StepContext, exception: TaskException) {
  const { env, task } = ctx
  const db = dbOf(env)
  if (typeof exception.deployment === 'string' && task.orgId) {
    return db
      .select({ id: deployments.id })
      .from(deployments)
      .where(and(eq(deployments.orgId, task.orgId), eq(deployments.name, exception.deployment)))
      .get()
  }
  const cursor = task.cursor as DeployCursor | null
  const id = cursor?.phase === 'publish' ? cursor.plan?.deploymentIds[cursor.d] : undefined
  return id ? { id } : undefined
}

async function setLocked(task: TaskRecord, ctx: StepContext, locked: boolean) {
  await dbOf(ctx.env)
    .update(apps)
    .set({ locked, updated: isoNow() })
    .where(and(eq(apps.id, appIdOf(task)), eq(apps.locked, !locked)))
}

export const deployTask: TaskHandler = {
  async step(ctx) {
    const cursor = ctx.task.cursor as DeployCursor | null
    if (cursor?.phase === 'publish' && cursor.plan) return publishStep(ctx, cursor)
    return admit(ctx)
  },

  async onFailed(ctx, exception) {
    if (NO_LOCK.has(exception.code)) return
    const deployment = await failedDeployment(ctx, exception)
    if (deployment) {
      await dbOf(ctx.env)
        .update(deployments)
        .set({ status: 'error', message: exception.message, updated: isoNow() })
        .where(eq(deployments.id, deployment.id))
    }
    await setLocked(ctx.task, ctx, true)
    ctx.log.warn('publish failed; app locked', { code: exception.code })
  },

  async onSucceeded(ctx) {
    await setLocked(ctx.task, ctx, false)
  },
}
