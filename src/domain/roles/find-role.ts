/** Reading roles of one org, and the role as the API shows it. */
import { and, asc, eq, inArray } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { roles } from '../../db/schema'
import type { Env } from '../../env'
import { invalidParam, notFound } from '../../http/errors'
import { combinePermissions, type Permissions } from '../auth/permissions'

export type RoleRow = typeof roles.$inferSelect

/** A role's stored grant with every resource present (absent ones are 0). */
export function grantOf(row: Pick<RoleRow, 'permissions'>): Permissions {
  return combinePermissions([JSON.parse(row.permissions)])
}

/** The role as the API shows it. */
export function roleView(row: RoleRow) {
  return {
    name: row.name,
    label: row.label,
    permissions: grantOf(row),
    builtin: row.builtin,
    created: row.created,
    updated: row.updated,
  }
}

/** The role `name` of the org, or 404. */
export async function findRole(env: Env, orgId: string, name: string): Promise<RoleRow> {
  const row = await dbOf(env)
    .select()
    .from(roles)
    .where(and(eq(roles.orgId, orgId), eq(roles.name, name)))
    .get()
  if (!row) throw notFound(`role ${name}`)
  return row
}

/** Every role of the org, by name. */
export async function listRoles(env: Env, orgId: string): Promise<RoleRow[]> {
  return dbOf(env).select().from(roles).where(eq(roles.orgId, orgId)).orderBy(asc(roles.name)).all()
}

/** The org's roles named in `names` (duplicates ignored); 400 naming `roles` for an unknown one. */
export async function rolesNamed(env: Env, orgId: string, names: string[]): Promise<RoleRow[]> {
  const wanted = [...new Set(names)]
  if (wanted.length === 0) return []
  const rows = await dbOf(env)
    .select()
    .from(roles)
    .where(and(eq(roles.orgId, orgId), inArray(roles.name, wanted)))
    .all()
  const unknown = wanted.filter((name) => !rows.some((r) => r.name === name))
  if (unknown.length) {
    throw invalidParam([{ field: 'roles', reason: `no such role: ${unknown.join(', ')}` }])
  }
  return rows
}
