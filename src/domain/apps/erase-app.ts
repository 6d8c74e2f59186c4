/**
 * The steps of a `prune` task with scope `app`: first what `DELETE /be/v1/apps` could not delete
 * at once under the app's R2 prefix, 1,000 objects a step; then what the app published to the
 * org's origins (`dxf/<orgName>/<appName>/` and `pat/<orgName>/<appName>/` on every deployment),
 * one listed page a step. The app's rows are gone already; the R2 prefix holds the app id, so a
 * new app of the same name never shares it. Origins are laid out by name, though: files under a
 * build directory that a new app of the same name has a build for are left to that app (its
 * publishes retire what is stale there).
 */
import { and, eq, ne } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { apps, builds } from '../../db/schema'
import type { Env } from '../../env'
import { appPrefix, buildIdText } from '../../storage/keys'
import type { StepContext, StepOutcome } from '../../tasks/types'
import { TaskFailure } from '../../tasks/types'
import {
  firstOriginPrune,
  type OriginPruneCursor,
  pruneOriginsUnit,
} from '../deployments/prune-origins'

/** Params of an app prune task. */
export interface AppPruneParams {
  scope: 'app'
  orgId: string
  appId: string
  /** With `appName`: also remove what the app published to the org's origins. */
  orgName?: string
  appName?: string
}

interface EraseAppCursor {
  objectsDeleted: number
  /** Present once the R2 objects are gone and the origins are being pruned. */
  origins?: OriginPruneCursor
}

/** Keeps keys under build directories of a new app that took the name (none: keep nothing). */
async function newAppKeeps(env: Env, params: AppPruneParams, appName: string) {
  const rows = await dbOf(env)
    .select({ buildId: builds.buildId })
    .from(builds)
    .innerJoin(apps, eq(apps.id, builds.appId))
    .where(
      and(
        eq(apps.orgId, params.orgId),
        eq(apps.name, appName),
        ne(apps.id, params.appId),
        ne(builds.state, 'deleted'),
      ),
    )
    .all()
  if (rows.length === 0) return undefined
  const taken = new Set(rows.map((row) => buildIdText(row.buildId)))
  return (relative: string) => taken.has(relative.split('/')[0])
}

/** One step of erasing an app's objects, then its published files. */
export async function eraseAppStep(ctx: StepContext): Promise<StepOutcome> {
  const params = ctx.task.params as Partial<AppPruneParams>
  const { orgId, appId, orgName, appName } = params
  if (typeof orgId !== 'string' || typeof appId !== 'string') {
    throw new TaskFailure({ code: 'badParams', message: 'an app prune needs orgId and appId' })
  }
  const cursor: EraseAppCursor = {
    objectsDeleted: Number(ctx.task.cursor?.objectsDeleted ?? 0),
    origins: ctx.task.cursor?.origins as OriginPruneCursor | undefined,
  }

  if (!cursor.origins) {
    const listed = await ctx.env.BUCKET.list({ prefix: appPrefix(orgId, appId), limit: 1000 })
    if (listed.objects.length > 0) {
      await ctx.env.BUCKET.delete(listed.objects.map((object) => object.key))
      const objectsDeleted = cursor.objectsDeleted + listed.objects.length
      return { kind: 'continue', cursor: { objectsDeleted }, progress: 0.5 }
    }
  }

  const published = typeof orgName === 'string' && typeof appName === 'string'
  const origins = published
    ? await pruneOriginsUnit(
        ctx.env,
        {
          orgId,
          orgName,
          appName,
          keep: await newAppKeeps(ctx.env, { scope: 'app', orgId, appId }, appName),
        },
        cursor.origins ?? firstOriginPrune(),
      )
    : null
  if (origins) {
    return { kind: 'continue', cursor: { ...cursor, origins: { ...origins } }, progress: 0.75 }
  }

  const originFilesDeleted = cursor.origins?.deleted ?? 0
  ctx.log.info('app erased', { appId, objects: cursor.objectsDeleted, originFilesDeleted })
  return { kind: 'done', result: { objectsDeleted: cursor.objectsDeleted, originFilesDeleted } }
}
