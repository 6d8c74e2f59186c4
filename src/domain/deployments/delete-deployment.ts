/**
 * Deleting a deployment: refused (409) while an app lists it by name; otherwise a `prune` task
 * removes what the org published on the origin (leaving what another deployment at the same
 * location serves, see shared-location.ts) and then the record. A second DELETE while that task
 * runs answers with the same task.
 */
import { eq } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { apps } from '../../db/schema'
import type { Env } from '../../env'
import { conflict } from '../../http/errors'
import { submitTask } from '../../tasks/service'
import { findDeployment } from './deployment-store'
import { PRUNING, removalTask } from './removal-state'

/** Names of the org's apps whose `deployments` list names `deploymentName`. */
export async function appsListing(
  env: Env,
  orgId: string,
  deploymentName: string,
): Promise<string[]> {
  const rows = await dbOf(env)
    .select({ name: apps.name, deployments: apps.deployments })
    .from(apps)
    .where(eq(apps.orgId, orgId))
    .all()
  return rows
    .filter((row) => {
      if (!row.deployments) return false
      const names = JSON.parse(row.deployments) as unknown
      return Array.isArray(names) && names.includes(deploymentName)
    })
    .map((row) => row.name)
    .sort()
}

/** Starts the removal of deployment `name`; returns the `prune` task's name. */
export async function deleteDeployment(env: Env, orgId: string, name: string): Promise<string> {
  const row = await findDeployment(env, orgId, name)

  const users = await appsListing(env, orgId, name)
  if (users.length) {
    throw conflict(
      `deployment ${name} is listed by app${users.length > 1 ? 's' : ''} ${users.join(', ')}; ` +
        'remove it from their deployments first',
    )
  }

  const running = await removalTask(env, orgId, row.id, PRUNING)
  if (running) return running

  return submitTask(env, {
    type: 'prune',
    orgId,
    params: { scope: 'deployment', deploymentId: row.id, deployment: row.name },
  })
}
