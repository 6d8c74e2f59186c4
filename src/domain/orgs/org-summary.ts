/** Reading orgs for the operator: a page of the instance's orgs, and one org with its counts. */
import { and, asc, count, desc, eq, ne, sql } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { apps, builds, orgs, users } from '../../db/schema'
import type { Env } from '../../env'
import { notFound } from '../../http/errors'
import type { ListOptions } from '../../http/list'

export type OrgRow = typeof orgs.$inferSelect

/** The columns an org list may be ordered by, under their API names. */
export const ORG_ORDER = {
  orgName: orgs.name,
  created: orgs.created,
  updated: orgs.updated,
  state: orgs.state,
} as const

export interface OrgFilter {
  /** Part of the name, any case. */
  orgName?: string
  state?: string
}

/** One page of orgs (by name unless ordered otherwise) and the total matching `filter`. */
export async function listOrgs(env: Env, options: ListOptions, filter: OrgFilter) {
  const db = dbOf(env)
  const where = and(
    filter.orgName ? sql`instr(lower(${orgs.name}), lower(${filter.orgName})) > 0` : undefined,
    filter.state ? eq(orgs.state, filter.state) : undefined,
  )
  const order = options.order.map(({ field, descending }) => {
    const column = ORG_ORDER[field as keyof typeof ORG_ORDER]
    return descending ? desc(column) : asc(column)
  })
  const [total, rows] = await db.batch([
    db.select({ n: count() }).from(orgs).where(where),
    db
      .select()
      .from(orgs)
      .where(where)
      .orderBy(...order, asc(orgs.name))
      .limit(options.limit)
      .offset(options.offset),
  ])
  return { total: total[0]?.n ?? 0, rows }
}

/** The org `orgName` (any state), or 404. */
export async function findOrg(env: Env, orgName: string): Promise<OrgRow> {
  const row = await dbOf(env).select().from(orgs).where(eq(orgs.name, orgName)).get()
  if (!row) throw notFound(`org ${orgName}`)
  return row
}

/** How much an org holds: users, apps, and the bytes of its builds that are not deleted. */
export async function orgCounts(env: Env, orgId: string) {
  const db = dbOf(env)
  const [nUsers, nApps, storage] = await db.batch([
    db.select({ n: count() }).from(users).where(eq(users.orgId, orgId)),
    db.select({ n: count() }).from(apps).where(eq(apps.orgId, orgId)),
    db
      .select({ bytes: sql<number>`coalesce(sum(${builds.sizeBytes}), 0)` })
      .from(builds)
      .where(and(eq(builds.orgId, orgId), ne(builds.state, 'deleted'))),
  ])
  return {
    nUsers: nUsers[0]?.n ?? 0,
    nApps: nApps[0]?.n ?? 0,
    storageBytes: Number(storage[0]?.bytes ?? 0),
  }
}
