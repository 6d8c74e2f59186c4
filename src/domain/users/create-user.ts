/**
 * Creating a user. A human has an email, a first name and a surname and gets an initial password;
 * a machine has a label and gets an API key. Either secret is answered once. The caller can only
 * give roles whose permissions it holds itself.
 */
import type { BatchItem } from 'drizzle-orm/batch'
import { dbOf } from '../../db/client'
import { isUniqueViolation } from '../../db/errors'
import { apiKeys, userRoles, users } from '../../db/schema'
import type { Env } from '../../env'
import { conflict, invalidParam } from '../../http/errors'
import { newApiKeyRecord } from '../auth/api-keys'
import { requireCovered } from '../auth/grants'
import { hashPassword } from '../auth/password'
import type { Permissions } from '../auth/permissions'
import { newId, newPassword } from '../auth/secrets'
import { grantOf, rolesNamed } from '../roles/find-role'
import { MACHINE_KEY_LABEL } from './credentials'
import { findUser, userRecord } from './find-user'

export interface CreateUserInput {
  username: string
  /** When absent: a machine if a label and no email is given, else a human. */
  machine?: boolean
  email?: string
  firstname?: string
  surname?: string
  title?: string
  label?: string
  roles: string[]
}

const HUMAN_ONLY = ['email', 'firstname', 'surname', 'title'] as const

/** Which user the body describes; 400 listing each missing or misplaced field. */
export function kindOf(input: CreateUserInput): 'human' | 'machine' {
  const machine = input.machine ?? (input.label !== undefined && input.email === undefined)
  const problems: { field: string; reason: string }[] = []
  if (machine) {
    if (!input.label) problems.push({ field: 'label', reason: 'required for a machine user' })
    for (const field of HUMAN_ONLY) {
      if (input[field] !== undefined) problems.push({ field, reason: 'only for human users' })
    }
  } else {
    for (const field of ['email', 'firstname', 'surname'] as const) {
      if (!input[field]) problems.push({ field, reason: 'required for a human user' })
    }
  }
  if (problems.length) throw invalidParam(problems)
  return machine ? 'machine' : 'human'
}

/** Creates the user with its roles. 400 bad fields or roles, 403 a role beyond the caller, 409 taken. */
export async function createUser(
  env: Env,
  caller: { orgId: string; permissions: Permissions },
  input: CreateUserInput,
) {
  const kind = kindOf(input)
  const granted = await rolesNamed(env, caller.orgId, input.roles)
  for (const role of granted) requireCovered(caller.permissions, grantOf(role))

  const userId = newId()
  const password = kind === 'human' ? newPassword() : undefined
  const key =
    kind === 'machine'
      ? await newApiKeyRecord({ orgId: caller.orgId, userId }, { label: MACHINE_KEY_LABEL })
      : undefined

  const db = dbOf(env)
  const statements: BatchItem<'sqlite'>[] = [
    ...granted.map((role) => db.insert(userRoles).values({ userId, roleId: role.id })),
    ...(key ? [db.insert(apiKeys).values(key.row)] : []),
  ]
  try {
    await db.batch([
      db.insert(users).values({
        id: userId,
        orgId: caller.orgId,
        username: input.username,
        machine: kind === 'machine',
        email: input.email ?? null,
        firstname: input.firstname ?? null,
        surname: input.surname ?? null,
        title: input.title ?? null,
        label: input.label ?? null,
        passwordHash: password ? await hashPassword(password) : null,
      }),
      ...statements,
    ])
  } catch (error) {
    // drizzle wraps the D1 error: the constraint is named in its cause.
    if (isUniqueViolation(error)) throw conflict(`user ${input.username} exists already`)
    throw error
  }

  const user = await userRecord(env, await findUser(env, caller.orgId, input.username))
  return { user, password, apiKey: key?.apiKey }
}
