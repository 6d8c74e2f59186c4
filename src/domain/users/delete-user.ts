/** Deleting a user, with its API keys, sessions and role grants. */
import type { Env } from '../../env'
import { requireCovered } from '../auth/grants'
import { type Principal, permissionsOf } from '../auth/principal'
import { administratorsRoleId, deleteUserRow } from './administrators'
import { findUser } from './find-user'

/**
 * Deletes the user `username` of the caller's org. 404 unknown, 403 when it holds a permission
 * the caller lacks, 409 when it is the last member of `Administrators`.
 */
export async function deleteUser(env: Env, caller: Principal, username: string) {
  const user = await findUser(env, caller.orgId, username)
  if (user.id !== caller.userId) {
    requireCovered(caller.permissions, (await permissionsOf(env, user.id)).permissions)
  }
  await deleteUserRow(env, await administratorsRoleId(env, caller.orgId), user.id)
}
