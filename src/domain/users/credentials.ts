/**
 * What a user signs in with: humans have a password (no mail is sent, so a new one is answered
 * once), machines have API keys. Both are stored only as hashes.
 */
import { eq } from 'drizzle-orm'
import { dbOf, isoNow } from '../../db/client'
import { apiKeys, users } from '../../db/schema'
import type { Env } from '../../env'
import { newApiKeyRecord } from '../auth/api-keys'
import { hashPassword } from '../auth/password'
import { newPassword } from '../auth/secrets'
import { revokeSessionsOf } from '../auth/sessions'

/** Label of the key a machine user gets with its creation or a credential reset. */
export const MACHINE_KEY_LABEL = 'issued with the user'

/** Sets a user's password and ends its other sessions (all but `keepSessionId`). */
export async function setPassword(
  env: Env,
  userId: string,
  password: string,
  keepSessionId?: string,
) {
  await dbOf(env)
    .update(users)
    .set({ passwordHash: await hashPassword(password), updated: isoNow() })
    .where(eq(users.id, userId))
  await revokeSessionsOf(env, userId, keepSessionId)
}

/** A new random password for a human user, which ends all its sessions. Returns it once. */
export async function resetPassword(env: Env, userId: string, keepSessionId?: string) {
  const password = newPassword()
  await setPassword(env, userId, password, keepSessionId)
  return password
}

/** Replaces every API key of a machine user with one new key. Returns it once. */
export async function resetMachineKey(env: Env, user: { orgId: string; id: string }) {
  const { apiKey, row } = await newApiKeyRecord(
    { orgId: user.orgId, userId: user.id },
    { label: MACHINE_KEY_LABEL },
  )
  const db = dbOf(env)
  await db.batch([
    db.delete(apiKeys).where(eq(apiKeys.userId, user.id)),
    db.insert(apiKeys).values(row),
    db.update(users).set({ updated: isoNow() }).where(eq(users.id, user.id)),
  ])
  return apiKey
}
