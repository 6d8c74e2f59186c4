/** Checks the deployment names an app registers: each must be a deployment of the app's org. */
import { and, eq, inArray } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { deployments } from '../../db/schema'
import type { Env } from '../../env'
import { invalidParam } from '../../http/errors'

/** The names without duplicates, in their first order; 400 naming `deployments` for an unknown one. */
export async function checkDeploymentNames(
  env: Env,
  orgId: string,
  names: readonly string[],
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
  return unique
}
