/**
 * Removing what an org, or one app of it, published to the org's origins, one bounded unit per
 * call: the org's deployments in name order, on each the `dxf/` then the `pat/` directory of the
 * org (`dxf/<orgName>/`) or of the app (`dxf/<orgName>/<appName>/`) under its prefix, one listed
 * page at a time, every listed file deleted. The `prune` tasks that delete an app or an org take
 * one unit per step; deleting the deployment itself (prune-deployment.ts) uses the same units.
 */
import { and, asc, eq, gt } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { deployments } from '../../db/schema'
import type { Env } from '../../env'
import { TaskFailure } from '../../tasks/types'
import { OriginError } from '../origins/origin'
import type { DeploymentRow } from './deployment-store'
import { originOf, originPath } from './origin-of'
import { withRetries } from './publish-file'

/** The published areas, in the order they are pruned. */
export const PUBLISHED_AREAS = ['dxf', 'pat'] as const

/** What is pruned: the org's files, or one app's. */
export interface OriginPruneScope {
  orgId: string
  orgName: string
  /** Only this app's directories; absent: the whole org's. */
  appName?: string
  /**
   * Keys (relative to the pruned directory, e.g. `0002/dxf-0002-01/image.dxf`) to leave in
   * place; see `eraseAppStep` (a new app of the same name).
   */
  keep?: (relative: string) => boolean
}

/** Where an origin prune stands; kept in the task cursor. */
export interface OriginPruneCursor {
  /** The deployment being pruned (by name); absent before the first. */
  deployment?: string
  /** Index into `PUBLISHED_AREAS`; past the end: that deployment is done. */
  area: number
  /** Where the next listing page starts. */
  next?: string
  /** Files deleted so far, over all deployments. */
  deleted: number
}

export const firstOriginPrune = (): OriginPruneCursor => ({ area: 0, deleted: 0 })

/** The task failure for an origin that refused, naming the deployment (as a publish does). */
export function originFailure(deploymentName: string, error: OriginError): TaskFailure {
  return new TaskFailure({
    code: error.code,
    message: `deployment ${deploymentName}: ${error.message}`,
    deployment: deploymentName,
    ...(error.httpStatus !== undefined ? { httpStatus: error.httpStatus } : {}),
  })
}

/** `dxf/<orgName>/` or `dxf/<orgName>/<appName>/` (then `pat/...`). */
export function publishedDir(scope: OriginPruneScope, area: number): string {
  const app = scope.appName ? `${scope.appName}/` : ''
  return `${PUBLISHED_AREAS[area]}/${scope.orgName}/${app}`
}

/**
 * Lists one page under `dir` (origin layout, prefix not included) on `row`'s origin and deletes
 * what it lists, except what `keep` keeps. Returns the files deleted and where the next page
 * starts (absent: the directory is done). Origin errors become a `TaskFailure` naming the
 * deployment.
 */
export async function deletePublishedPage(
  env: Env,
  row: DeploymentRow,
  dir: string,
  next?: string,
  keep?: (relative: string) => boolean,
): Promise<{ deleted: number; next?: string }> {
  try {
    const origin = await originOf(env, row)
    const prefix = originPath(row.originPrefix, dir)
    const page = await withRetries(() => origin.list(prefix, next))
    const gone = keep ? page.keys.filter((key) => !keep(key.slice(prefix.length))) : page.keys
    for (const key of gone) await withRetries(() => origin.delete(key))
    return { deleted: gone.length, next: page.next }
  } catch (error) {
    if (error instanceof OriginError) throw originFailure(row.name, error)
    throw error
  }
}

/** The deployment the cursor is on, or the next one by name (with a fresh cursor). */
async function deploymentAt(env: Env, orgId: string, cursor: OriginPruneCursor) {
  const db = dbOf(env)
  if (cursor.deployment !== undefined && cursor.area < PUBLISHED_AREAS.length) {
    const row = await db
      .select()
      .from(deployments)
      .where(and(eq(deployments.orgId, orgId), eq(deployments.name, cursor.deployment)))
      .get()
    if (row) return { row, cursor }
  }
  const row = await db
    .select()
    .from(deployments)
    .where(
      and(
        eq(deployments.orgId, orgId),
        cursor.deployment !== undefined ? gt(deployments.name, cursor.deployment) : undefined,
      ),
    )
    .orderBy(asc(deployments.name))
    .limit(1)
    .get()
  if (!row) return null
  return { row, cursor: { deployment: row.name, area: 0, deleted: cursor.deleted } }
}

/**
 * One unit of pruning `scope` on the org's origins: returns the cursor for the next unit, or null
 * when every deployment is done. An origin that refuses throws a `TaskFailure` naming the
 * deployment; `skipDeployment` moves a cursor past it.
 */
export async function pruneOriginsUnit(
  env: Env,
  scope: OriginPruneScope,
  saved: OriginPruneCursor,
): Promise<OriginPruneCursor | null> {
  const at = await deploymentAt(env, scope.orgId, saved)
  if (!at) return null
  const { row, cursor } = at

  const page = await deletePublishedPage(
    env,
    row,
    publishedDir(scope, cursor.area),
    cursor.next,
    scope.keep,
  )
  const deleted = cursor.deleted + page.deleted
  return page.next
    ? { ...cursor, next: page.next, deleted }
    : { deployment: row.name, area: cursor.area + 1, deleted }
}

/** The cursor past deployment `name` (after its origin refused). */
export function skipDeployment(cursor: OriginPruneCursor, name: string): OriginPruneCursor {
  return { deployment: name, area: PUBLISHED_AREAS.length, deleted: cursor.deleted }
}
