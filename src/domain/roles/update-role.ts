/**
 * Changing a role's label or permissions. Only the resources sent change; raising a grant needs
 * the caller to hold what it adds, lowering never does. `Administrators` cannot be changed.
 */
import { eq } from 'drizzle-orm'
import { dbOf, isoNow } from '../../db/client'
import { roles } from '../../db/schema'
import type { Env } from '../../env'
import { conflict } from '../../http/errors'
import { requireCovered } from '../auth/grants'
import { type Permissions, RESOURCES } from '../auth/permissions'
import { findRole, grantOf, type RoleRow } from './find-role'

export interface UpdateRoleInput {
  name: string
  /** null removes the label. */
  label?: string | null
  permissions?: Partial<Permissions>
}

/** Applies the change and returns the role. 404 unknown, 409 `Administrators`, 403 a raise. */
export async function updateRole(
  env: Env,
  caller: { orgId: string; permissions: Permissions },
  input: UpdateRoleInput,
): Promise<RoleRow> {
  const role = await findRole(env, caller.orgId, input.name)
  if (role.builtin) throw conflict(`role ${role.name} cannot be changed`)

  const before = grantOf(role)
  const after = { ...before, ...input.permissions }
  const raised = Object.fromEntries(RESOURCES.map((r) => [r, after[r] & ~before[r]]))
  requireCovered(caller.permissions, raised)

  await dbOf(env)
    .update(roles)
    .set({
      label: input.label === undefined ? role.label : input.label,
      permissions: JSON.stringify(after),
      updated: isoNow(),
    })
    .where(eq(roles.id, role.id))
  return findRole(env, caller.orgId, input.name)
}
