/**
 * Changing a user. Anyone may read and change its own profile and password (the old one is
 * needed); changing roles, resetting credentials or touching another user needs `beUsers.update`.
 * Taking over another user's roles or credentials also needs every permission that user holds.
 */
import { eq } from 'drizzle-orm'
import { dbOf, isoNow } from '../../db/client'
import { users } from '../../db/schema'
import type { Env } from '../../env'
import { forbidden, invalidParam } from '../../http/errors'
import { requireCovered } from '../auth/grants'
import { verifyPassword } from '../auth/password'
import { allows } from '../auth/permissions'
import { type Principal, permissionsOf } from '../auth/principal'
import { assignRoles } from './assign-roles'
import { resetMachineKey, resetPassword, setPassword } from './credentials'
import { findUser, type UserRow, userRecord } from './find-user'

export interface UpdateUserInput {
  username: string
  email?: string | null
  firstname?: string | null
  surname?: string | null
  title?: string | null
  label?: string | null
  roles?: string[]
  oldPW?: string
  newPW?: string
  resetCreds?: boolean
}

type Problem = { field: string; reason: string }

function fieldProblems(user: UserRow, input: UpdateUserInput): Problem[] {
  const problems: Problem[] = []
  if (input.newPW !== undefined && input.resetCreds) {
    problems.push({ field: 'resetCreds', reason: 'send either newPW or resetCreds' })
  }
  if (input.oldPW !== undefined && input.newPW === undefined) {
    problems.push({ field: 'oldPW', reason: 'only with newPW' })
  }
  if (user.machine) {
    for (const field of ['email', 'firstname', 'surname', 'title'] as const) {
      if (input[field] !== undefined) problems.push({ field, reason: 'only for human users' })
    }
    if (input.label === null)
      problems.push({ field: 'label', reason: 'required for a machine user' })
    if (input.newPW !== undefined) {
      problems.push({ field: 'newPW', reason: 'machine users have no password; use resetCreds' })
    }
  } else {
    for (const field of ['email', 'firstname', 'surname'] as const) {
      if (input[field] === null) problems.push({ field, reason: 'required for a human user' })
    }
  }
  return problems
}

/** Applies the change; answers the user and any new secret (`password` or `apiKey`) once. */
export async function updateUser(env: Env, caller: Principal, input: UpdateUserInput) {
  const self = input.username === caller.username
  const manager = allows(caller.permissions, 'beUsers', 'update')
  const powers = input.roles !== undefined || input.resetCreds === true
  if (!manager && (!self || powers)) throw forbidden('beUsers.update')

  const user = await findUser(env, caller.orgId, input.username)
  const problems = fieldProblems(user, input)
  if (problems.length) throw invalidParam(problems)

  if (!self && (powers || input.newPW !== undefined)) {
    requireCovered(caller.permissions, (await permissionsOf(env, user.id)).permissions)
  }
  if (self && input.newPW !== undefined) {
    const matches = await verifyPassword(input.oldPW ?? '', user.passwordHash)
    if (!matches) {
      const reason =
        input.oldPW === undefined ? 'required to change your password' : 'wrong password'
      throw invalidParam([{ field: 'oldPW', reason }])
    }
  }

  if (input.roles !== undefined) await assignRoles(env, caller, user, input.roles)

  const profile = {
    email: input.email,
    firstname: input.firstname,
    surname: input.surname,
    title: input.title,
    label: input.label,
  }
  const changed = Object.fromEntries(Object.entries(profile).filter(([, v]) => v !== undefined))
  if (Object.keys(changed).length || input.roles !== undefined) {
    await dbOf(env)
      .update(users)
      .set({ ...changed, updated: isoNow() })
      .where(eq(users.id, user.id))
  }

  // The caller keeps the session it is using; every other session of the user ends.
  const keep = self ? caller.sessionId : undefined
  let password: string | undefined
  let apiKey: string | undefined
  if (input.newPW !== undefined) await setPassword(env, user.id, input.newPW, keep)
  if (input.resetCreds && user.machine) apiKey = await resetMachineKey(env, user)
  else if (input.resetCreds) password = await resetPassword(env, user.id, keep)

  const record = await userRecord(env, await findUser(env, caller.orgId, input.username))
  return { user: record, password, apiKey }
}
