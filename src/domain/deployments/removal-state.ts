/**
 * Whether a deployment is being deleted: a `prune` task for it exists that has not succeeded.
 * Such a deployment cannot be taken up by an app (its files are going), and while the task is
 * submitted or running it cannot change either (the prune reads its origin step by step). A
 * failed removal still counts as under way: a retry or another DELETE finishes it.
 */
import { and, eq, inArray, sql } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { deployments, tasks } from '../../db/schema'
import type { Env } from '../../env'
import type { TaskState } from '../../tasks/types'

/** Removal tasks in these states mean the deployment is being deleted. */
export const REMOVING: TaskState[] = ['submitted', 'running', 'failed']
/** Removal tasks in these states are working on the deployment now. */
export const PRUNING: TaskState[] = ['submitted', 'running']

const removes = (deploymentId: unknown) =>
  sql`json_extract(${tasks.params}, '$.deploymentId') = ${deploymentId}`

/** The name of a `prune` task of deployment `deploymentId` in one of `states`, if any. */
export async function removalTask(
  env: Env,
  orgId: string,
  deploymentId: string,
  states: TaskState[],
): Promise<string | undefined> {
  const row = await dbOf(env)
    .select({ id: tasks.id })
    .from(tasks)
    .where(
      and(
        eq(tasks.orgId, orgId),
        eq(tasks.type, 'prune'),
        inArray(tasks.state, states),
        removes(deploymentId),
      ),
    )
    .get()
  return row?.id
}

/** Which of the org's deployments `names` are being deleted, with a removal task of each. */
export async function beingDeleted(
  env: Env,
  orgId: string,
  names: readonly string[],
): Promise<{ name: string; taskName: string }[]> {
  if (names.length === 0) return []
  const rows = await dbOf(env)
    .select({ name: deployments.name, taskName: tasks.id })
    .from(deployments)
    .innerJoin(
      tasks,
      and(
        eq(tasks.orgId, deployments.orgId),
        eq(tasks.type, 'prune'),
        inArray(tasks.state, REMOVING),
        removes(deployments.id),
      ),
    )
    .where(and(eq(deployments.orgId, orgId), inArray(deployments.name, [...names])))
    .all()
  const byName = new Map(rows.map((row) => [row.name, row.taskName]))
  return [...byName]
    .map(([name, taskName]) => ({ name, taskName }))
    .sort((a, b) => (a.name < b.name ? -1 : 1))
}
