/** Reading users of one org with their role names, and the user as the API shows it. */
import { and, asc, eq, sql } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { roles, userRoles, users } from '../../db/schema'
import type { Env } from '../../env'
import { notFound } from '../../http/errors'

export type UserRow = typeof users.$inferSelect

/** The user as the API shows it: never its password hash or keys. */
export function userView(row: UserRow, roleNames: string[]) {
  return {
    username: row.username,
    machine: row.machine,
    email: row.email,
    firstname: row.firstname,
    surname: row.surname,
    title: row.title,
    label: row.label,
    roles: roleNames,
    created: row.created,
    updated: row.updated,
  }
}

export type UserView = ReturnType<typeof userView>

/** The user `username` of the org, or 404. */
export async function findUser(env: Env, orgId: string, username: string): Promise<UserRow> {
  const row = await dbOf(env)
    .select()
    .from(users)
    .where(and(eq(users.orgId, orgId), eq(users.username, username)))
    .get()
  if (!row) throw notFound(`user ${username}`)
  return row
}

/** Role names per user id for the org (users without roles are absent). */
async function roleNamesByUser(env: Env, orgId: string, userId?: string) {
  const rows = await dbOf(env)
    .select({ userId: userRoles.userId, name: roles.name })
    .from(userRoles)
    .innerJoin(roles, eq(roles.id, userRoles.roleId))
    .where(and(eq(roles.orgId, orgId), userId ? eq(userRoles.userId, userId) : undefined))
    .orderBy(asc(roles.name))
    .all()
  const byUser = new Map<string, string[]>()
  for (const row of rows) byUser.set(row.userId, [...(byUser.get(row.userId) ?? []), row.name])
  return byUser
}

/** One user with its role names. */
export async function userRecord(env: Env, row: UserRow): Promise<UserView> {
  const names = await roleNamesByUser(env, row.orgId, row.id)
  return userView(row, names.get(row.id) ?? [])
}

export interface UserFilter {
  /** Part of the username, any case. */
  username?: string
  machine?: boolean
}

/** The org's users matching `filter`, by username, with their role names. */
export async function listUsers(env: Env, orgId: string, filter: UserFilter) {
  const rows = await dbOf(env)
    .select()
    .from(users)
    .where(
      and(
        eq(users.orgId, orgId),
        filter.username
          ? sql`instr(lower(${users.username}), lower(${filter.username})) > 0`
          : undefined,
        filter.machine === undefined ? undefined : eq(users.machine, filter.machine),
      ),
    )
    .orderBy(asc(users.username))
    .all()
  const names = await roleNamesByUser(env, orgId)
  return rows.map((row) => userView(row, names.get(row.id) ?? []))
}
