/**
 * Deleting an org starts here: the org turns `deleting` (its credentials stop working at once)
 * and a `prune` task erases its objects and records in bounded steps. The name stays taken until
 * the task ends.
 */
import { and, eq } from 'drizzle-orm'
import { dbOf, isoNow } from '../../db/client'
import { orgs } from '../../db/schema'
import type { Env } from '../../env'
import { conflict } from '../../http/errors'
import { submitTask } from '../../tasks/service'
import type { OrgRow } from './org-summary'

/** The `params` of a `prune` task that erases an org. */
export interface OrgPruneParams {
  scope: 'org'
  orgId: string
  orgName: string
  /** Also remove what was published to the org's origins. */
  prune: boolean
}

/** Marks the org `deleting` and submits its prune task; 409 when a deletion already runs. */
export async function startOrgDeletion(env: Env, org: OrgRow, prune: boolean): Promise<string> {
  const marked = await dbOf(env)
    .update(orgs)
    .set({ state: 'deleting', updated: isoNow() })
    .where(and(eq(orgs.id, org.id), eq(orgs.state, 'active')))
    .returning({ id: orgs.id })
  if (marked.length === 0) throw conflict(`org ${org.name} is being deleted already`)

  const params: OrgPruneParams = { scope: 'org', orgId: org.id, orgName: org.name, prune }
  try {
    return await submitTask(env, { type: 'prune', orgId: org.id, params: { ...params } })
  } catch (error) {
    // Without its task the org would stay `deleting` for ever: give it back.
    await dbOf(env).update(orgs).set({ state: 'active' }).where(eq(orgs.id, org.id))
    throw error
  }
}
