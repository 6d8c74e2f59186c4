/**
 * The `prune` task for one deployment (`params.scope = 'deployment'`): lists and deletes what the
 * org published under `<originPrefix>/dxf/<orgName>/` and `<originPrefix>/pat/<orgName>/`, one
 * page per step, then drops the deployment's retired-file rows and the record itself. Files of
 * other orgs sharing the origin are never touched, nor the files of apps that another deployment
 * of the org at the same location serves (shared-location.ts; a task warning names them). Every
 * step first checks that no app lists the deployment (`stillInUse` otherwise), and the record
 * goes only if that still holds at that moment.
 */
import { and, eq, sql } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { deployments, orgs, retiredFiles } from '../../db/schema'
import { type StepContext, type StepOutcome, TaskFailure } from '../../tasks/types'
import { appsListing } from './delete-deployment'
import { type DeploymentRow, originStamp } from './deployment-store'
import { PUBLISHED_AREAS as AREAS, deletePublishedPage, publishedDir } from './prune-origins'
import { sharedHolding } from './shared-location'

interface PruneCursor {
  /** 0: dxf, 1: pat, 2: done with the origin. */
  area: number
  next?: string
  deleted: number
  /** `originStamp` when the listing started; a changed origin or prefix starts it again. */
  stamp?: string
}

async function refuseWhileListed(ctx: StepContext, row: DeploymentRow) {
  const users = await appsListing(ctx.env, row.orgId, row.name)
  if (users.length === 0) return
  const s = users.length > 1 ? 's' : ''
  throw new TaskFailure({
    code: 'stillInUse',
    message:
      `deployment ${row.name} is listed by app${s} ${users.join(', ')}; remove it from their ` +
      'deployments and retry this task',
    deployment: row.name,
    apps: users,
  })
}

/** Keeps the files of apps another deployment at the same location serves, with a warning. */
async function keptApps(ctx: StepContext, row: DeploymentRow) {
  const holding = await sharedHolding(ctx.env, row)
  if (holding.apps.size === 0) return undefined
  const kept = [...holding.apps].sort()
  const s = holding.deployments.length > 1 ? 's' : ''
  const message =
    `deployment${s} ${holding.deployments.join(', ')} share${s ? '' : 's'} this origin location: ` +
    `the files of app${kept.length > 1 ? 's' : ''} ${kept.join(', ')} were left in place`
  if (!ctx.task.warnings.some((w) => w.message === message)) await ctx.warn('sharedOrigin', message)
  return (relative: string) => holding.apps.has(relative.split('/')[0])
}

/** One step of removing a deployment. */
export async function pruneDeploymentStep(ctx: StepContext): Promise<StepOutcome> {
  const { env, task } = ctx
  const deploymentId = task.params.deploymentId
  if (typeof deploymentId !== 'string') {
    throw new TaskFailure({ code: 'badParams', message: 'params.deploymentId is required' })
  }
  const db = dbOf(env)
  const deployment = await db
    .select()
    .from(deployments)
    .where(eq(deployments.id, deploymentId))
    .get()
  const saved = (task.cursor as PruneCursor | null) ?? { area: 0, deleted: 0 }
  if (!deployment) return { kind: 'done', result: { deleted: saved.deleted } }
  await refuseWhileListed(ctx, deployment)

  const stamp = await originStamp(deployment)
  const cursor: PruneCursor =
    saved.stamp === undefined || saved.stamp === stamp
      ? { ...saved, stamp }
      : { area: 0, deleted: saved.deleted, stamp }

  if (cursor.area < AREAS.length) {
    const org = await db
      .select({ name: orgs.name })
      .from(orgs)
      .where(eq(orgs.id, deployment.orgId))
      .get()
    if (!org) throw new TaskFailure({ code: 'badParams', message: 'the org no longer exists' })
    const scope = { orgId: deployment.orgId, orgName: org.name }
    const page = await deletePublishedPage(
      env,
      deployment,
      publishedDir(scope, cursor.area),
      cursor.next,
      await keptApps(ctx, deployment),
    )
    const deleted = cursor.deleted + page.deleted
    const moved = page.next
      ? { area: cursor.area, next: page.next, deleted, stamp }
      : { area: cursor.area + 1, deleted, stamp }
    return { kind: 'continue', cursor: { ...moved }, progress: moved.area / (AREAS.length + 1) }
  }

  // An app could list the deployment since the check above; the record goes only if none does.
  const unlisted = sql`not exists (select 1 from apps, json_each(apps.deployments) as listed
    where apps.org_id = ${deployment.orgId} and listed.value = ${deployment.name})`
  const [, removed] = await db.batch([
    db.delete(retiredFiles).where(and(eq(retiredFiles.deploymentId, deployment.id), unlisted)),
    db
      .delete(deployments)
      .where(and(eq(deployments.id, deployment.id), unlisted))
      .returning({ id: deployments.id }),
  ])
  if (removed.length === 0) {
    await refuseWhileListed(ctx, deployment)
    return { kind: 'continue', cursor: { ...cursor } }
  }
  ctx.log.info('deployment removed', { deployment: deployment.name, deleted: cursor.deleted })
  return { kind: 'done', result: { deployment: deployment.name, deleted: cursor.deleted } }
}
