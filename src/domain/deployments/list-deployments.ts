/** The org's deployments for `GET /be/v1/deployments`: filters, then the list conventions. */
import { eq } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { deployments } from '../../db/schema'
import type { Env } from '../../env'
import { type ListOptions, pageInMemory } from '../../http/list'
import { deploymentView } from './deployment-store'

export interface DeploymentFilters {
  /** Part of the name, any case. */
  name?: string
  /** true: only deployments whose last publish failed; false: only the others. */
  error?: boolean
}

/** A page of deployment objects (an org has few, so they are sorted in memory). */
export async function listDeployments(
  env: Env,
  orgId: string,
  filters: DeploymentFilters,
  options: ListOptions,
) {
  const rows = await dbOf(env)
    .select()
    .from(deployments)
    .where(eq(deployments.orgId, orgId))
    .orderBy(deployments.name)
    .all()
  const needle = filters.name?.toLowerCase()
  const views = rows
    .filter((row) => !needle || row.name.toLowerCase().includes(needle))
    .filter((row) => filters.error === undefined || (row.status === 'error') === filters.error)
    .map(deploymentView)
  return pageInMemory(views, options)
}
