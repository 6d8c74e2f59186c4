/** Replacing the roles of a user, under the grant rule and the last-administrator rule. */
import { and, eq, inArray } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { userRoles } from '../../db/schema'
import type { Env } from '../../env'
import { requireCovered } from '../auth/grants'
import type { Permissions } from '../auth/permissions'
import { grantOf, rolesNamed } from '../roles/find-role'
import { administratorsRoleId, stripAdministrators } from './administrators'

/**
 * Gives the user exactly the roles `names`. 400 for an unknown role, 403 when the caller lacks a
 * permission of a role it adds, 409 when it would take `Administrators` from its last holder.
 */
export async function assignRoles(
  env: Env,
  caller: { orgId: string; permissions: Permissions },
  user: { id: string },
  names: string[],
) {
  const wanted = await rolesNamed(env, caller.orgId, names)
  const db = dbOf(env)
  const current = (
    await db
      .select({ roleId: userRoles.roleId })
      .from(userRoles)
      .where(eq(userRoles.userId, user.id))
      .all()
  ).map((row) => row.roleId)
  const added = wanted.filter((role) => !current.includes(role.id))
  const removed = current.filter((id) => !wanted.some((role) => role.id === id))
  for (const role of added) requireCovered(caller.permissions, grantOf(role))

  const adminRoleId = await administratorsRoleId(env, caller.orgId)
  if (removed.includes(adminRoleId)) await stripAdministrators(env, adminRoleId, user.id)
  const others = removed.filter((id) => id !== adminRoleId)
  if (others.length) {
    await db
      .delete(userRoles)
      .where(and(eq(userRoles.userId, user.id), inArray(userRoles.roleId, others)))
  }
  if (added.length) {
    await db
      .insert(userRoles)
      .values(added.map((role) => ({ userId: user.id, roleId: role.id })))
      .onConflictDoNothing()
  }
}
