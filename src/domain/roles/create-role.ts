/** Creating a role: a name unique in the org, a label, and a grant no wider than the caller's. */
import { dbOf } from '../../db/client'
import { isUniqueViolation } from '../../db/errors'
import { roles } from '../../db/schema'
import type { Env } from '../../env'
import { conflict } from '../../http/errors'
import { requireCovered } from '../auth/grants'
import { combinePermissions, type Permissions } from '../auth/permissions'
import { newId } from '../auth/secrets'
import { findRole, type RoleRow } from './find-role'

export interface CreateRoleInput {
  name: string
  label?: string | null
  permissions: Partial<Permissions>
}

/** Creates the role. 403 when it would grant what the caller lacks, 409 when the name is taken. */
export async function createRole(
  env: Env,
  caller: { orgId: string; permissions: Permissions },
  input: CreateRoleInput,
): Promise<RoleRow> {
  const grant = combinePermissions([input.permissions])
  requireCovered(caller.permissions, grant)

  try {
    await dbOf(env)
      .insert(roles)
      .values({
        id: newId(),
        orgId: caller.orgId,
        name: input.name,
        label: input.label ?? null,
        permissions: JSON.stringify(grant),
      })
  } catch (error) {
    // drizzle wraps the D1 error: the constraint is named in its cause.
    if (isUniqueViolation(error)) throw conflict(`role ${input.name} exists already`)
    throw error
  }
  return findRole(env, caller.orgId, input.name)
}
