/**
 * The rule that keeps an org manageable: its `Administrators` role always has at least one holder.
 * Each guard is a single SQL statement whose condition looks at the other holders, so two
 * requests racing to remove the last two administrators cannot both succeed.
 */
import { and, eq, type SQL, sql } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { roles, userRoles, users } from '../../db/schema'
import type { Env } from '../../env'
import { conflict } from '../../http/errors'

const LAST_ADMIN = 'the last member of Administrators cannot be removed from it or deleted'

/** The id of the org's `Administrators` role. */
export async function administratorsRoleId(env: Env, orgId: string): Promise<string> {
  const row = await dbOf(env)
    .select({ id: roles.id })
    .from(roles)
    .where(and(eq(roles.orgId, orgId), eq(roles.builtin, true)))
    .get()
  if (!row) throw new Error(`org ${orgId} has no Administrators role`)
  return row.id
}

function anotherHolder(roleId: string, userId: string): SQL {
  return sql`EXISTS (SELECT 1 FROM ${userRoles} WHERE ${userRoles.roleId} = ${roleId} AND ${userRoles.userId} <> ${userId})`
}

/** Takes `Administrators` from a user that holds it; 409 when no other user holds it. */
export async function stripAdministrators(env: Env, roleId: string, userId: string) {
  const removed = await dbOf(env)
    .delete(userRoles)
    .where(
      and(
        eq(userRoles.userId, userId),
        eq(userRoles.roleId, roleId),
        anotherHolder(roleId, userId),
      ),
    )
    .returning({ userId: userRoles.userId })
  if (removed.length === 0) throw conflict(LAST_ADMIN)
}

/** Deletes a user (its keys, sessions and role grants go with it); 409 for the last admin. */
export async function deleteUserRow(env: Env, roleId: string, userId: string) {
  const deleted = await dbOf(env)
    .delete(users)
    .where(
      and(
        eq(users.id, userId),
        sql`(NOT EXISTS (SELECT 1 FROM ${userRoles} WHERE ${userRoles.roleId} = ${roleId} AND ${userRoles.userId} = ${userId}) OR ${anotherHolder(roleId, userId)})`,
      ),
    )
    .returning({ id: users.id })
  if (deleted.length === 0) throw conflict(LAST_ADMIN)
}
