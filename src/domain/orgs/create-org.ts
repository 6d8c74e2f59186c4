/**
 * Creating an org: the org, its `Administrators` role (every maximum) and its primary admin, in
 * one D1 batch so a failure leaves nothing half-made. The admin's initial password is returned
 * once and never stored in clear.
 */
import { eq } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { isUniqueViolation } from '../../db/errors'
import { orgs, roles, userRoles, users } from '../../db/schema'
import type { Env } from '../../env'
import { conflict } from '../../http/errors'
import { hashPassword } from '../auth/password'
import { allPermissions } from '../auth/permissions'
import { newId, newPassword } from '../auth/secrets'

export const ADMINISTRATORS = 'Administrators'

export interface CreateOrgInput {
  orgName: string
  label?: string
  publicKey?: string
  admin: { username: string; email: string; firstname?: string; surname?: string; title?: string }
}

/** Creates the org, its Administrators role and admin user. 409 when the name is taken. */
export async function createOrg(env: Env, input: CreateOrgInput) {
  const db = dbOf(env)
  const taken = await db
    .select({ id: orgs.id })
    .from(orgs)
    .where(eq(orgs.name, input.orgName))
    .get()
  if (taken) throw conflict(`org ${input.orgName} exists already`)

  const orgId = newId()
  const roleId = newId()
  const userId = newId()
  const password = newPassword()
  const passwordHash = await hashPassword(password)

  try {
    await db.batch([
      db.insert(orgs).values({
        id: orgId,
        name: input.orgName,
        label: input.label ?? null,
        publicKey: input.publicKey ?? null,
      }),
      db.insert(roles).values({
        id: roleId,
        orgId,
        name: ADMINISTRATORS,
        label: 'Every permission; cannot be deleted or lowered',
        permissions: JSON.stringify(allPermissions()),
        builtin: true,
      }),
      db.insert(users).values({
        id: userId,
        orgId,
        username: input.admin.username,
        machine: false,
        email: input.admin.email,
        firstname: input.admin.firstname ?? null,
        surname: input.admin.surname ?? null,
        title: input.admin.title ?? null,
        passwordHash,
      }),
      db.insert(userRoles).values({ userId, roleId }),
    ])
  } catch (error) {
    // Two creates racing for one name: the unique index decides, the loser gets a 409.
    if (isUniqueViolation(error)) throw conflict(`org ${input.orgName} exists already`)
    throw error
  }

  const org = await db.select().from(orgs).where(eq(orgs.id, orgId)).get()
  return { org: org!, userId, password }
}
