/**
 * The steps of a `prune` task with scope `org`: first what was published to the org's origins
 * (with `prune`), then every R2 object under `orgs/<orgId>/`, then the traces in chunks, then the
 * org row, whose deletion cascades to every other record. Each step is bounded and idempotent:
 * it deletes what is still there, so running it twice changes nothing.
 */
import { eq, sql } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { orgs, rateLimits, retiredFiles, tasks, traces } from '../../db/schema'
import type { StepContext, StepOutcome } from '../../tasks/types'
import { TaskFailure } from '../../tasks/types'
import { loginUserKeyPrefix } from '../auth/sessions'
import {
  firstOriginPrune,
  type OriginPruneCursor,
  pruneOriginsUnit,
  skipDeployment,
} from '../deployments/prune-origins'
import type { OrgPruneParams } from './delete-org'

/** Objects listed and deleted per step (the most one R2 list or delete call takes). */
export const OBJECTS_PER_STEP = 1000
/** Trace rows deleted per step, so no single statement runs long. */
export const TRACES_PER_STEP = 5000

interface EraseCursor {
  phase: 'origins' | 'objects' | 'traces' | 'records'
  objectsDeleted: number
  tracesDeleted: number
  /** Where pruning the origins stands (with `prune`). */
  origins?: OriginPruneCursor
}

function paramsOf(ctx: StepContext): OrgPruneParams {
  const params = ctx.task.params as Partial<OrgPruneParams>
  if (typeof params.orgId !== 'string' || typeof params.orgName !== 'string') {
    throw new TaskFailure({ code: 'badParams', message: 'an org prune needs orgId and orgName' })
  }
  return { scope: 'org', orgId: params.orgId, orgName: params.orgName, prune: !!params.prune }
}

const next = (cursor: EraseCursor, progress: number): StepOutcome => ({
  kind: 'continue',
  cursor: { ...cursor },
  progress,
})

/** One step of erasing an org. */
export async function eraseOrgStep(ctx: StepContext): Promise<StepOutcome> {
  const params = paramsOf(ctx)
  const cursor: EraseCursor = {
    phase: 'origins',
    objectsDeleted: 0,
    tracesDeleted: 0,
    ...(ctx.task.cursor as Partial<EraseCursor> | null),
  }
  const db = dbOf(ctx.env)

  switch (cursor.phase) {
    case 'origins': {
      // While the deployment records (and their credentials) still exist.
      if (!params.prune) return next({ ...cursor, phase: 'objects' }, 0.05)
      const saved = cursor.origins ?? firstOriginPrune()
      const scope = { orgId: params.orgId, orgName: params.orgName }
      try {
        const origins = await pruneOriginsUnit(ctx.env, scope, saved)
        if (!origins) return next({ ...cursor, phase: 'objects' }, 0.05)
        return next({ ...cursor, origins }, 0.02)
      } catch (error) {
        const deployment = error instanceof TaskFailure ? error.exception.deployment : undefined
        if (typeof deployment !== 'string') throw error
        // The org's credentials stop with its deletion, so nobody could fix the origin and retry:
        // leave its files, say so, and go on.
        await ctx.warn(
          'originNotPruned',
          `${error instanceof Error ? error.message : String(error)}; ` +
            'its published files were left in place',
        )
        return next({ ...cursor, origins: skipDeployment(saved, deployment) }, 0.02)
      }
    }

    case 'objects': {
      const listed = await ctx.env.BUCKET.list({
        prefix: `orgs/${params.orgId}/`,
        limit: OBJECTS_PER_STEP,
      })
      if (listed.objects.length === 0) return next({ ...cursor, phase: 'traces' }, 0.6)
      await ctx.env.BUCKET.delete(listed.objects.map((o) => o.key))
      const objectsDeleted = cursor.objectsDeleted + listed.objects.length
      return next({ ...cursor, objectsDeleted }, 0.3)
    }

    case 'traces': {
      const result = await db.run(
        sql`DELETE FROM ${traces} WHERE rowid IN (SELECT rowid FROM ${traces} WHERE ${traces.orgId} = ${params.orgId} LIMIT ${TRACES_PER_STEP})`,
      )
      const deleted = result.meta.changes ?? 0
      if (deleted === 0) return next({ ...cursor, phase: 'records' }, 0.9)
      return next({ ...cursor, tracesDeleted: cursor.tracesDeleted + deleted }, 0.7)
    }

    case 'records': {
      const prefix = loginUserKeyPrefix(params.orgName)
      await db.batch([
        // This task row belongs to the org: detach it so it survives the cascade and can end.
        db.update(tasks).set({ orgId: null }).where(eq(tasks.id, ctx.task.taskName)),
        db.delete(retiredFiles).where(eq(retiredFiles.orgId, params.orgId)),
        db
          .delete(rateLimits)
          .where(sql`substr(${rateLimits.key}, 1, ${prefix.length}) = ${prefix}`),
        db.delete(orgs).where(eq(orgs.id, params.orgId)),
      ])
      ctx.log.info('org erased', { org: params.orgName, objects: cursor.objectsDeleted })
      return {
        kind: 'done',
        result: {
          orgName: params.orgName,
          objectsDeleted: cursor.objectsDeleted,
          tracesDeleted: cursor.tracesDeleted,
          originsPruned: params.prune,
          originFilesDeleted: cursor.origins?.deleted ?? 0,
        },
      }
    }

    default:
      throw new TaskFailure({ code: 'badCursor', message: `unknown phase ${String(cursor.phase)}` })
  }
}
