/**
 * Login, auth tokens and logout (API.md section 2): tokens, their expiry and revocation, the
 * combined header set of the docs, and the login rate limits. Expiry is tested by writing the
 * `expires` of a token straight into D1, since a faked clock in the test does not reach D1.
 */
import { describe, expect, it } from 'vitest'
import { isoNow } from '../../src/db/client'
import { RESOURCE_MAX } from '../../src/domain/auth/permissions'
import { freshAddress, makeHuman, makeMachine, makeRole, setTokenExpiry, signIn } from './accounts'
import { newOrg } from './fixtures'
import { call } from './helpers'

const login = (body: unknown, address = freshAddress()) =>
  call('POST', '/be/v1/login', { headers: { 'cf-connecting-ip': address }, body })

const whoAmI = (username: string, headers: Record<string, string>) =>
  call('GET', `/be/v1/users/${username}`, { headers })

describe('POST /be/v1/login', () => {
  it('opens a session and answers the permissions of the user', async () => {
    const org = await newOrg('login')
    const answer = await login({
      orgName: org.orgName,
      username: 'admin',
      password: org.adminPassword,
    })
    expect(answer.status).toBe(200)
    expect(answer.body).toMatchObject({ status: 'success', permissions: RESOURCE_MAX })
    expect(answer.body.besessionToken).toMatch(/^rks_[A-Za-z0-9_-]{43}$/)
    const hours = (Date.parse(answer.body.expires) - Date.now()) / 3_600_000
    expect(hours).toBeGreaterThan(23.9)
    expect(hours).toBeLessThanOrEqual(24)

    await makeRole(org, 'Viewers', { apps: 2, tasks: 2 })
    const password = await makeHuman(org, 'viewer', ['Viewers'])
    const viewer = await login({ orgName: org.orgName, username: 'viewer', password })
    expect(viewer.body.permissions).toMatchObject({ apps: 2, tasks: 2, beUsers: 0 })
  })

  it('refuses a wrong password, unknown user, unknown org and a machine user alike', async () => {
    const org = await newOrg('login')
    await makeMachine(org, 'robot')
    const refusals = await Promise.all([
      login({ orgName: org.orgName, username: 'admin', password: 'wrong-password' }),
      login({ orgName: org.orgName, username: 'nobody', password: org.adminPassword }),
      login({ orgName: 'no_such_org', username: 'admin', password: org.adminPassword }),
      login({ orgName: org.orgName, username: 'robot', password: 'anything-at-all' }),
    ])
    for (const answer of refusals) {
      expect(answer.status).toBe(401)
      expect(answer.body).toMatchObject({
        code: 'unauthenticated',
        message: refusals[0].body.message,
      })
    }
  })

  it('refuses bad bodies with 400', async () => {
    const missing = await login({ orgName: 'abc', username: 'admin' })
    expect(missing.status).toBe(400)
    expect(missing.body.details).toContainEqual(expect.objectContaining({ field: 'password' }))
    const extra = await login({ orgName: 'abc', username: 'admin', password: 'x', apiKey: 'y' })
    expect(extra.status).toBe(400)
    expect(extra.body.details).toContainEqual({ field: 'apiKey', reason: 'unknown field' })
  })

  it('limits failed logins per org and user, with Retry-After', async () => {
    const org = await newOrg('limit')
    const address = freshAddress()
    const right = { orgName: org.orgName, username: 'admin', password: org.adminPassword }
    const wrong = { ...right, password: 'not-the-password' }

    // Successful logins do not count.
    for (let i = 0; i < 5; i++) expect((await login(right, address)).status).toBe(200)
    for (let i = 0; i < 5; i++) expect((await login(wrong, freshAddress())).status).toBe(401)

    const limited = await login(right, freshAddress())
    expect(limited.status).toBe(429)
    expect(limited.body.code).toBe('rateLimited')
    const retryAfter = Number(limited.headers.get('retry-after'))
    expect(retryAfter).toBeGreaterThan(800)
    expect(retryAfter).toBeLessThanOrEqual(900)

    // Another user of the same org is not affected.
    const password = await makeHuman(org, 'other')
    const other = await login({ orgName: org.orgName, username: 'other', password }, address)
    expect(other.status).toBe(200)
  })

  it('limits failed logins per client address', async () => {
    const org = await newOrg('limit')
    const address = freshAddress()
    for (let i = 0; i < 20; i++) {
      const answer = await login(
        { orgName: org.orgName, username: `guess_${i}`, password: 'whatever' },
        address,
      )
      expect(answer.status).toBe(401)
    }
    const limited = await login(
      { orgName: org.orgName, username: 'admin', password: org.adminPassword },
      address,
    )
    expect(limited.status).toBe(429)
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0)
    const elsewhere = await login({
      orgName: org.orgName,
      username: 'admin',
      password: org.adminPassword,
    })
    expect(elsewhere.status).toBe(200)
  })
})

describe('POST /be/v1/auth and the auth token', () => {
  it('gives an auth token that authenticates as header or bearer', async () => {
    const org = await newOrg('auth')
    const { authToken, headers } = await signIn(org.orgName, 'admin', org.adminPassword)
    expect(authToken).toMatch(/^rka_/)
    expect((await whoAmI('admin', headers)).status).toBe(200)
    const bearer = await whoAmI('admin', { authorization: `Bearer ${authToken}` })
    expect(bearer.status).toBe(200)
    expect(bearer.body.user.username).toBe('admin')
  })

  it('answers an expiry about five minutes ahead', async () => {
    const org = await newOrg('auth')
    const { sessionToken } = await signIn(org.orgName, 'admin', org.adminPassword)
    const answer = await call('POST', '/be/v1/auth', {
      headers: { 'x-rockit-besession-token': sessionToken },
    })
    expect(answer.status).toBe(200)
    const seconds = (Date.parse(answer.body.expires) - Date.now()) / 1000
    expect(seconds).toBeGreaterThan(290)
    expect(seconds).toBeLessThanOrEqual(300)
  })

  it('refuses a missing, forged or misplaced token with 401', async () => {
    const org = await newOrg('auth')
    const { sessionToken, authToken } = await signIn(org.orgName, 'admin', org.adminPassword)
    const none = await call('POST', '/be/v1/auth')
    expect(none.status).toBe(401)
    const forged = await call('POST', '/be/v1/auth', {
      headers: { 'x-rockit-besession-token': `rks_${'A'.repeat(43)}` },
    })
    expect(forged.status).toBe(401)
    // An auth token is not a session token, and a session token is not an auth token.
    const swapped = await call('POST', '/be/v1/auth', {
      headers: { 'x-rockit-besession-token': authToken },
    })
    expect(swapped.status).toBe(401)
    expect((await whoAmI('admin', { 'x-rockit-beauth-token': sessionToken })).status).toBe(401)
    const fake = await whoAmI('admin', { 'x-rockit-beauth-token': `rka_${'B'.repeat(43)}` })
    expect(fake.status).toBe(401)
  })

  it('does not take API keys on login, auth or logout', async () => {
    const org = await newOrg('auth')
    expect((await call('POST', '/be/v1/auth', { headers: org.headers })).status).toBe(401)
    expect((await call('POST', '/be/v1/logout', { headers: org.headers })).status).toBe(401)
    const noPassword = await call('POST', '/be/v1/login', {
      headers: org.headers,
      body: { orgName: org.orgName, username: 'admin' },
    })
    expect(noPassword.status).toBe(400)
  })

  it('stops an expired auth token and an expired session', async () => {
    const org = await newOrg('expiry')
    const { sessionToken, authToken, headers } = await signIn(
      org.orgName,
      'admin',
      org.adminPassword,
    )
    await setTokenExpiry(authToken, isoNow(-1))
    const late = await whoAmI('admin', headers)
    expect(late.status).toBe(401)
    expect(late.body.message).toContain('expired')

    const fresh = await call('POST', '/be/v1/auth', {
      headers: { 'x-rockit-besession-token': sessionToken },
    })
    expect(fresh.status).toBe(200)
    await setTokenExpiry(sessionToken, isoNow(-1))
    const again = await call('POST', '/be/v1/auth', {
      headers: { 'x-rockit-besession-token': sessionToken },
    })
    expect(again.status).toBe(401)
    // Auth tokens die with their session even before their own expiry.
    const child = await whoAmI('admin', { 'x-rockit-beauth-token': fresh.body.beauthToken })
    expect(child.status).toBe(401)
  })
})

describe('POST /be/v1/logout', () => {
  it('revokes the session and every auth token made from it', async () => {
    const org = await newOrg('logout')
    const { sessionToken, headers } = await signIn(org.orgName, 'admin', org.adminPassword)
    const second = await call('POST', '/be/v1/auth', {
      headers: { 'x-rockit-besession-token': sessionToken },
    })
    const out = await call('POST', '/be/v1/logout', {
      headers: { 'x-rockit-besession-token': sessionToken },
    })
    expect(out.status).toBe(200)
    expect(out.body).toMatchObject({ status: 'success', message: 'logged out' })
    expect((await whoAmI('admin', headers)).status).toBe(401)
    const other = { 'x-rockit-beauth-token': second.body.beauthToken }
    expect((await whoAmI('admin', other)).status).toBe(401)
    const reuse = await call('POST', '/be/v1/auth', {
      headers: { 'x-rockit-besession-token': sessionToken },
    })
    expect(reuse.status).toBe(401)
    const twice = await call('POST', '/be/v1/logout', {
      headers: { 'x-rockit-besession-token': sessionToken },
    })
    expect(twice.status).toBe(401)
  })

  it('takes an auth token too, and leaves other sessions alive', async () => {
    const org = await newOrg('logout')
    const first = await signIn(org.orgName, 'admin', org.adminPassword)
    const second = await signIn(org.orgName, 'admin', org.adminPassword)
    const out = await call('POST', '/be/v1/logout', { headers: first.headers })
    expect(out.status).toBe(200)
    const reuse = await call('POST', '/be/v1/auth', {
      headers: { 'x-rockit-besession-token': first.sessionToken },
    })
    expect(reuse.status).toBe(401)
    expect((await whoAmI('admin', second.headers)).status).toBe(200)
  })
})

describe('the combined header set and org isolation', () => {
  it('accepts an auth token with API-key headers of the same user', async () => {
    const org = await newOrg('both')
    const { headers } = await signIn(org.orgName, 'admin', org.adminPassword)
    const answer = await whoAmI('admin', { ...headers, ...org.headers })
    expect(answer.status).toBe(200)
  })

  it('refuses them when they name different users or orgs', async () => {
    const org = await newOrg('both')
    const password = await makeHuman(org, 'second', ['Administrators'])
    const { headers } = await signIn(org.orgName, 'second', password)
    const mixed = await whoAmI('admin', { ...headers, ...org.headers })
    expect(mixed.status).toBe(401)
    expect(mixed.body.message).toContain('different users')

    const elsewhere = await newOrg('both')
    const crossed = await whoAmI('admin', { ...headers, ...elsewhere.headers })
    expect(crossed.status).toBe(401)
  })

  it('keeps a session inside its org', async () => {
    const one = await newOrg('iso')
    const two = await newOrg('iso')
    const { headers } = await signIn(one.orgName, 'admin', one.adminPassword)
    const wrongOrg = await login({
      orgName: two.orgName,
      username: 'admin',
      password: one.adminPassword,
    })
    expect(wrongOrg.status).toBe(401)
    // The headers naming another org do not move the token there.
    const moved = await whoAmI('admin', { ...headers, 'x-rockit-orgname': two.orgName })
    expect(moved.status).toBe(401)
  })
})

describe('the OpenAPI document', () => {
  it('describes the account endpoints', async () => {
    const doc = await call('GET', '/openapi.json')
    expect(doc.status).toBe(200)
    const paths = doc.body.paths
    for (const path of [
      '/be/v1/login',
      '/be/v1/auth',
      '/be/v1/logout',
      '/be/v1/apikeys',
      '/be/v1/apikeys/{keyId}',
      '/be/v1/users',
      '/be/v1/users/{username}',
      '/be/v1/roles',
      '/be/v1/roles/{name}',
      '/be/v1/orgs/{orgName}',
      '/adm/v1/orgs',
      '/adm/v1/orgs/{orgName}',
    ]) {
      expect(paths).toHaveProperty([path])
    }
    expect(Object.keys(paths['/be/v1/users'])).toEqual(
      expect.arrayContaining(['get', 'post', 'patch']),
    )
    expect(paths['/be/v1/login'].post.responses).toHaveProperty(['429'])
  })
})
