/**
 * API keys: any user can make keys for itself; a machine user also gets one at creation. A key is
 * shown once (`rkk_...`) and stored only as its SHA-256; it acts with its user's current
 * permissions until it expires or is deleted.
 */
import { and, asc, eq } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { apiKeys } from '../../db/schema'
import type { Env } from '../../env'
import { invalidParam, notFound } from '../../http/errors'
import { newId, newSecret, sha256Hex } from './secrets'

type ApiKeyRow = typeof apiKeys.$inferSelect

/** Whose key it is. */
export interface KeyOwner {
  orgId: string
  userId: string
}

export interface NewApiKeyInput {
  label?: string | null
  /** ISO 8601 time; it must lie in the future. Absent or null: the key does not expire. */
  expires?: string | null
}

/** The key as the API shows it (never the secret or its hash). */
export function keyView(row: ApiKeyRow) {
  return {
    keyId: row.id,
    label: row.label,
    created: row.created,
    expires: row.expires,
    lastUsed: row.lastUsed,
  }
}

/** The insert of a new key for `owner`, with the secret to hand out once. */
export async function newApiKeyRecord(owner: KeyOwner, input: NewApiKeyInput = {}) {
  const apiKey = newSecret('rkk')
  const row = {
    id: newId(),
    orgId: owner.orgId,
    userId: owner.userId,
    label: input.label ?? null,
    hash: await sha256Hex(apiKey),
    expires: input.expires ? new Date(input.expires).toISOString() : null,
  }
  return { apiKey, row }
}

/** Makes a key for `owner`. 400 when `expires` is not in the future. */
export async function createApiKey(env: Env, owner: KeyOwner, input: NewApiKeyInput) {
  if (input.expires && new Date(input.expires).getTime() <= Date.now()) {
    throw invalidParam([{ field: 'expires', reason: 'must lie in the future' }])
  }
  const { apiKey, row } = await newApiKeyRecord(owner, input)
  const db = dbOf(env)
  await db.insert(apiKeys).values(row)
  const stored = await db.select().from(apiKeys).where(eq(apiKeys.id, row.id)).get()
  return { apiKey, key: keyView(stored!) }
}

/** The owner's keys, oldest first. */
export async function listApiKeys(env: Env, owner: KeyOwner) {
  const rows = await dbOf(env)
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.orgId, owner.orgId), eq(apiKeys.userId, owner.userId)))
    .orderBy(asc(apiKeys.created), asc(apiKeys.id))
    .all()
  return rows.map(keyView)
}

/** Deletes one of the owner's keys; anyone else's key is a 404, as if it did not exist. */
export async function deleteApiKey(env: Env, owner: KeyOwner, keyId: string) {
  const deleted = await dbOf(env)
    .delete(apiKeys)
    .where(
      and(eq(apiKeys.id, keyId), eq(apiKeys.orgId, owner.orgId), eq(apiKeys.userId, owner.userId)),
    )
    .returning({ id: apiKeys.id })
  if (deleted.length === 0) throw notFound(`key ${keyId}`)
}
