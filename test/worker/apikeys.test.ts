/** API keys of the caller itself (API.md section 5, Authentication). */
import { env } from 'cloudflare:workers'
import { eq } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { dbOf, isoNow } from '../../src/db/client'
import { apiKeys } from '../../src/db/schema'
import { makeHuman, makeRole, signIn } from './accounts'
import { newOrg } from './fixtures'
import { call } from './helpers'

const keyHeaders = (orgName: string, username: string, apiKey: string) => ({
  'x-rockit-orgname': orgName,
  'x-rockit-username': username,
  'x-rockit-api-key': apiKey,
})

describe('POST /be/v1/apikeys', () => {
  it('makes a key for the caller, shown once, that authenticates', async () => {
    const org = await newOrg('keys')
    const { headers } = await signIn(org.orgName, 'admin', org.adminPassword)
    const expires = new Date(Date.now() + 86_400_000).toISOString()
    const answer = await call('POST', '/be/v1/apikeys', {
      headers,
      body: { label: 'ci', expires },
    })
    expect(answer.status).toBe(201)
    expect(answer.body.apiKey).toMatch(/^rkk_[A-Za-z0-9_-]{43}$/)
    expect(answer.body.key).toMatchObject({ label: 'ci', expires, lastUsed: null })
    expect(Object.keys(answer.body.key).sort()).toEqual(
      ['created', 'expires', 'keyId', 'label', 'lastUsed'].sort(),
    )

    const withKey = keyHeaders(org.orgName, 'admin', answer.body.apiKey)
    expect((await call('GET', '/be/v1/users/admin', { headers: withKey })).status).toBe(200)
    const listed = await call('GET', '/be/v1/apikeys', { headers: withKey })
    const mine = listed.body.items.find((k: { keyId: string }) => k.keyId === answer.body.key.keyId)
    expect(mine.lastUsed).not.toBeNull()
  })

  it('lets a user without any permission make keys for itself', async () => {
    const org = await newOrg('keys')
    const password = await makeHuman(org, 'plain')
    const { headers } = await signIn(org.orgName, 'plain', password)
    const answer = await call('POST', '/be/v1/apikeys', { headers, body: {} })
    expect(answer.status).toBe(201)
    expect(answer.body.key.label).toBeNull()
    expect(answer.body.key.expires).toBeNull()
    const withKey = keyHeaders(org.orgName, 'plain', answer.body.apiKey)
    expect((await call('GET', '/be/v1/users/plain', { headers: withKey })).status).toBe(200)
  })

  it('refuses a past expiry, a malformed one and unknown fields with 400', async () => {
    const org = await newOrg('keys')
    const past = await call('POST', '/be/v1/apikeys', {
      headers: org.headers,
      body: { expires: '2020-01-01T00:00:00Z' },
    })
    expect(past.status).toBe(400)
    expect(past.body.details).toContainEqual({ field: 'expires', reason: 'must lie in the future' })
    const malformed = await call('POST', '/be/v1/apikeys', {
      headers: org.headers,
      body: { expires: 'tomorrow' },
    })
    expect(malformed.status).toBe(400)
    const unknown = await call('POST', '/be/v1/apikeys', {
      headers: org.headers,
      body: { label: 'x', username: 'other' },
    })
    expect(unknown.status).toBe(400)
  })

  it('needs a credential', async () => {
    expect((await call('POST', '/be/v1/apikeys', { body: {} })).status).toBe(401)
    expect((await call('GET', '/be/v1/apikeys')).status).toBe(401)
    expect((await call('DELETE', '/be/v1/apikeys/abc')).status).toBe(401)
  })
})

describe('GET and DELETE /be/v1/apikeys', () => {
  it("lists only the caller's keys, never a secret or hash", async () => {
    const org = await newOrg('keys')
    const password = await makeHuman(org, 'someone')
    const { headers } = await signIn(org.orgName, 'someone', password)
    await call('POST', '/be/v1/apikeys', { headers, body: { label: 'one' } })
    await call('POST', '/be/v1/apikeys', { headers, body: { label: 'two' } })

    const answer = await call('GET', '/be/v1/apikeys?order[]=-label', { headers })
    expect(answer.status).toBe(200)
    expect(answer.body.total).toBe(2)
    expect(answer.body.items.map((k: { label: string }) => k.label)).toEqual(['two', 'one'])
    expect(JSON.stringify(answer.body)).not.toMatch(/rkk_|hash/)

    const fields = await call('GET', '/be/v1/apikeys?fields[]=keyId&limit=1', { headers })
    expect(fields.body.items).toHaveLength(1)
    expect(Object.keys(fields.body.items[0])).toEqual(['keyId'])
    const bad = await call('GET', '/be/v1/apikeys?fields[]=hash', { headers })
    expect(bad.status).toBe(400)
  })

  it("deletes the caller's own key and no one else's", async () => {
    const org = await newOrg('keys')
    const other = await newOrg('keys')
    const made = await call('POST', '/be/v1/apikeys', { headers: org.headers, body: {} })
    const keyId = made.body.key.keyId

    const password = await makeHuman(org, 'colleague', ['Administrators'])
    const colleague = await signIn(org.orgName, 'colleague', password)
    const byColleague = await call('DELETE', `/be/v1/apikeys/${keyId}`, {
      headers: colleague.headers,
    })
    expect(byColleague.status).toBe(404)
    const fromOtherOrg = await call('DELETE', `/be/v1/apikeys/${keyId}`, {
      headers: other.headers,
    })
    expect(fromOtherOrg.status).toBe(404)

    const own = await call('DELETE', `/be/v1/apikeys/${keyId}`, { headers: org.headers })
    expect(own.status).toBe(200)
    const withKey = keyHeaders(org.orgName, 'admin', made.body.apiKey)
    expect((await call('GET', '/be/v1/users/admin', { headers: withKey })).status).toBe(401)
    expect((await call('DELETE', `/be/v1/apikeys/${keyId}`, { headers: org.headers })).status).toBe(
      404,
    )
  })
})

describe('what a key can do', () => {
  it('stops working once expired', async () => {
    const org = await newOrg('keys')
    const made = await call('POST', '/be/v1/apikeys', { headers: org.headers, body: {} })
    const withKey = keyHeaders(org.orgName, 'admin', made.body.apiKey)
    expect((await call('GET', '/be/v1/apikeys', { headers: withKey })).status).toBe(200)
    await dbOf(env)
      .update(apiKeys)
      .set({ expires: isoNow(-1) })
      .where(eq(apiKeys.id, made.body.key.keyId))
    const late = await call('GET', '/be/v1/apikeys', { headers: withKey })
    expect(late.status).toBe(401)
    expect(late.body.message).toContain('expired')
  })

  it("acts with its user's current permissions", async () => {
    const org = await newOrg('keys')
    await makeRole(org, 'Readers', { beUsers: 2 })
    const password = await makeHuman(org, 'reader', ['Readers'])
    const { headers } = await signIn(org.orgName, 'reader', password)
    const made = await call('POST', '/be/v1/apikeys', { headers, body: {} })
    const withKey = keyHeaders(org.orgName, 'reader', made.body.apiKey)
    expect((await call('GET', '/be/v1/users', { headers: withKey })).status).toBe(200)

    const stripped = await call('PATCH', '/be/v1/users', {
      headers: org.headers,
      body: { username: 'reader', roles: [] },
    })
    expect(stripped.status).toBe(200)
    const now = await call('GET', '/be/v1/users', { headers: withKey })
    expect(now.status).toBe(403)
    expect(now.body.details).toEqual([{ permission: 'beUsers.read' }])
  })

  it('does not work with another org or username', async () => {
    const org = await newOrg('keys')
    const other = await newOrg('keys')
    const made = await call('POST', '/be/v1/apikeys', { headers: org.headers, body: {} })
    const elsewhere = keyHeaders(other.orgName, 'admin', made.body.apiKey)
    expect((await call('GET', '/be/v1/apikeys', { headers: elsewhere })).status).toBe(401)
    await makeHuman(org, 'second')
    const wrongUser = keyHeaders(org.orgName, 'second', made.body.apiKey)
    expect((await call('GET', '/be/v1/apikeys', { headers: wrongUser })).status).toBe(401)
  })
})
