/**
 * The step of a `prune` task with scope `app`: deletes what `DELETE /be/v1/apps` could not delete
 * at once under the app's R2 prefix, 1,000 objects a step. The app's rows are gone already; the
 * prefix holds the app id, so a new app of the same name never shares it.
 */
import { appPrefix } from '../../storage/keys'
import type { StepContext, StepOutcome } from '../../tasks/types'
import { TaskFailure } from '../../tasks/types'

/** Params of an app prune task. */
export interface AppPruneParams {
  scope: 'app'
  orgId: string
  appId: string
}

/** One step of erasing an app's objects. */
export async function eraseAppStep(ctx: StepContext): Promise<StepOutcome> {
  const { orgId, appId } = ctx.task.params as Partial<AppPruneParams>
  if (typeof orgId !== 'string' || typeof appId !== 'string') {
    throw new TaskFailure({ code: 'badParams', message: 'an app prune needs orgId and appId' })
  }
  const deletedBefore = Number(ctx.task.cursor?.objectsDeleted ?? 0)

  const listed = await ctx.env.BUCKET.list({ prefix: appPrefix(orgId, appId), limit: 1000 })
  if (listed.objects.length === 0) {
    ctx.log.info('app objects erased', { appId, objects: deletedBefore })
    return { kind: 'done', result: { objectsDeleted: deletedBefore } }
  }
  await ctx.env.BUCKET.delete(listed.objects.map((object) => object.key))
  return {
    kind: 'continue',
    cursor: { objectsDeleted: deletedBefore + listed.objects.length },
    progress: 0.5,
  }
}
