/**
 * Deployments of one org that publish to the same place: same origin type, same store (S3
 * endpoint host and bucket, NetStorage host and cpCode, R2 namespace) and same `originPrefix`.
 * Their files are the same files, so removing one deployment must leave what the others serve.
 * Credentials, region and scheme do not matter: they are ways to reach the place.
 */
import { and, eq, ne } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { apps, deployments } from '../../db/schema'
import type { Env } from '../../env'
import { type DeploymentRow, storedOrigin } from './deployment-store'
import { beingDeleted } from './removal-state'

function hostOf(url: string): string {
  try {
    return new URL(url).host.toLowerCase()
  } catch {
    return url.toLowerCase()
  }
}

/** Where a deployment's files land, as a comparable text. */
export function originLocation(row: Pick<DeploymentRow, 'origin' | 'originPrefix'>): string {
  const origin = storedOrigin(row)
  const store =
    origin.type === 's3'
      ? `${hostOf(origin.endpoint)}/${origin.bucket}`
      : origin.type === 'netstorage'
        ? `${hostOf(origin.host)}/${origin.cpCode}`
        : origin.bucket
  return `${origin.type}:${store}:${row.originPrefix}`
}

/** What other deployments at `row`'s location hold there. */
export interface SharedHolding {
  /** The other deployments at the location that are not being deleted themselves, by name. */
  deployments: string[]
  /** Apps publishing to one of them (listing it, or listing none: all of the org's). */
  apps: Set<string>
}

/**
 * The apps whose files at `row`'s location another live deployment of the org also serves.
 * A deployment that is being deleted itself holds nothing, so two sharing deployments deleted
 * together leave nothing behind.
 */
export async function sharedHolding(env: Env, row: DeploymentRow): Promise<SharedHolding> {
  const db = dbOf(env)
  const here = originLocation(row)
  const others = await db
    .select()
    .from(deployments)
    .where(and(eq(deployments.orgId, row.orgId), ne(deployments.id, row.id)))
    .all()
  const sharing = others.filter((other) => originLocation(other) === here).map((o) => o.name)
  const going = new Set((await beingDeleted(env, row.orgId, sharing)).map((d) => d.name))
  const live = sharing.filter((name) => !going.has(name)).sort()
  if (live.length === 0) return { deployments: [], apps: new Set() }

  const appRows = await db
    .select({ name: apps.name, deployments: apps.deployments })
    .from(apps)
    .where(eq(apps.orgId, row.orgId))
    .all()
  const held = appRows.filter((app) => {
    const listed = app.deployments ? (JSON.parse(app.deployments) as string[]) : []
    return listed.length === 0 || listed.some((name) => live.includes(name))
  })
  return { deployments: live, apps: new Set(held.map((app) => app.name)) }
}
