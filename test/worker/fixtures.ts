/**
 * Fixtures shared by the worker tests: an org made through the Admin API, and an API key for
 * its admin. The key is written straight into D1 (hashed, as `POST /be/v1/apikeys` stores it)
 * so tests of other resources do not depend on the login flow.
 */
import { env } from 'cloudflare:workers'
import { and, eq } from 'drizzle-orm'
import { expect } from 'vitest'
import { dbOf } from '../../src/db/client'
import { apiKeys, orgs, users } from '../../src/db/schema'
import { newId, newSecret, sha256Hex } from '../../src/domain/auth/secrets'
import { adminHeaders, call } from './helpers'

export interface OrgFixture {
  orgName: string
  adminUsername: string
  adminPassword: string
  /** API-key headers of the org's admin (every permission). */
  headers: Record<string, string>
}

let counter = 0

/** Creates an org (unique name per call) with an admin and an API key for that admin. */
export async function newOrg(prefix = 'org'): Promise<OrgFixture> {
  counter++
  const orgName = `${prefix}_${counter}_${Math.random().toString(36).slice(2, 8)}`
  const answer = await call('POST', '/adm/v1/orgs', {
    headers: await adminHeaders(),
    body: { orgName, admin: { username: 'admin', email: 'admin@example.com' } },
  })
  expect(answer.status).toBe(201)
  const headers = await apiKeyHeaders(orgName, 'admin')
  return { orgName, adminUsername: 'admin', adminPassword: answer.body.password, headers }
}

/** Makes an API key for an existing user directly in D1 and returns its three headers. */
export async function apiKeyHeaders(
  orgName: string,
  username: string,
): Promise<Record<string, string>> {
  const db = dbOf(env)
  const user = await db
    .select({ id: users.id, orgId: users.orgId })
    .from(users)
    .innerJoin(orgs, eq(orgs.id, users.orgId))
    .where(and(eq(orgs.name, orgName), eq(users.username, username)))
    .get()
  if (!user) throw new Error(`no user ${username} in ${orgName}`)
  const key = newSecret('rkk')
  await db.insert(apiKeys).values({
    id: newId(),
    orgId: user.orgId,
    userId: user.id,
    label: 'test fixture',
    hash: await sha256Hex(key),
  })
  return { 'x-rockit-orgname': orgName, 'x-rockit-username': username, 'x-rockit-api-key': key }
}
