/** Deleting a role: never `Administrators`, and never while a user holds it. */
import { and, eq, sql } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { roles, userRoles } from '../../db/schema'
import type { Env } from '../../env'
import { conflict } from '../../http/errors'
import { findRole } from './find-role'

/** Deletes the role. 404 unknown, 409 when builtin or held. */
export async function deleteRole(env: Env, orgId: string, name: string): Promise<void> {
  const role = await findRole(env, orgId, name)
  if (role.builtin) throw conflict(`role ${role.name} cannot be deleted`)

  // One statement decides, so a user given the role meanwhile keeps it.
  const deleted = await dbOf(env)
    .delete(roles)
    .where(
      and(
        eq(roles.id, role.id),
        sql`NOT EXISTS (SELECT 1 FROM ${userRoles} WHERE ${userRoles.roleId} = ${role.id})`,
      ),
    )
    .returning({ id: roles.id })
  if (deleted.length === 0) throw conflict(`role ${role.name} is held by users; take it away first`)
}
