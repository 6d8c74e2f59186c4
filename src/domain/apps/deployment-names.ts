/**
 * Checks the deployment names an app registers: each must be a deployment of the app's org, and
 * one the app does not list yet must not be being deleted (its files are going).
 */
import { and, eq, inArray } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { deployments } from '../../db/schema'
import type { Env } from '../../env'
import { conflict, invalidParam } from '../../http/errors'
import { beingDeleted } from '../deployments/removal-state'

/**
 * The names without duplicates, in their first order; 400 naming `deployments` for an unknown
 * one, 409 for one being deleted that is not among `listed` (what the app lists already).
 */
export async function checkDeploymentNames(
  env: Env,
  orgId: string,
  names: readonly string[],
  listed: readonly string[] = [],
): Promise<string[]> {
  const unique = [...new Set(names)]
  if (unique.length === 0) return []

  const known = await dbOf(env)
    .select({ name: deployments.name })
    .from(deployments)
    .where(and(eq(deployments.orgId, orgId), inArray(deployments.name, unique)))
    .all()
  const knownNames = new Set(known.map((row) => row.name))
  const unknown = unique.filter((name) => !knownNames.has(name))
  if (unknown.length) {
    throw invalidParam([
      {
        field: 'deployments',
        reason: `unknown deployment${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}`,
      },
    ])
  }

  const added = unique.filter((name) => !listed.includes(name))
  const going = await beingDeleted(env, orgId, added)
  if (going.length) {
    const which = going.map((d) => `${d.name} (task ${d.taskName})`).join(', ')
    throw conflict(
      `deployment${going.length > 1 ? 's' : ''} ${which} ${going.length > 1 ? 'are' : 'is'} ` +
        'being deleted and cannot be added to an app',
    )
  }
  return unique
}
