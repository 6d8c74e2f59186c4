/**
 * The `prune` task for one deployment (`params.scope = 'deployment'`): lists and deletes what the
 * org published under `<originPrefix>/dxf/<orgName>/` and `<originPrefix>/pat/<orgName>/`, one
 * page per step, then drops the deployment's retired-file rows and the record itself. Files of
 * other orgs sharing the origin are never touched.
 */
import { eq } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { deployments, orgs, retiredFiles } from '../../db/schema'
import { type StepContext, type StepOutcome, TaskFailure } from '../../tasks/types'
import { PUBLISHED_AREAS as AREAS, deletePublishedPage, publishedDir } from './prune-origins'

interface PruneCursor {
  /** 0: dxf, 1: pat, 2: done with the origin. */
  area: number
  next?: string
  deleted: number
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
  const cursor = (task.cursor as PruneCursor | null) ?? { area: 0, deleted: 0 }
  if (!deployment) return { kind: 'done', result: { deleted: cursor.deleted } }

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
    )
    const deleted = cursor.deleted + page.deleted
    const moved = page.next
      ? { area: cursor.area, next: page.next, deleted }
      : { area: cursor.area + 1, deleted }
    return { kind: 'continue', cursor: moved, progress: moved.area / (AREAS.length + 1) }
  }

  await db.batch([
    db.delete(retiredFiles).where(eq(retiredFiles.deploymentId, deployment.id)),
    db.delete(deployments).where(eq(deployments.id, deployment.id)),
  ])
  ctx.log.info('deployment removed', { deployment: deployment.name, deleted: cursor.deleted })
  return { kind: 'done', result: { deployment: deployment.name, deleted: cursor.deleted } }
}
