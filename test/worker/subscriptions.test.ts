/**
 * `/be/v1/subscriptions`: create with the secret shown once, list, detail, delete; bad input;
 * the target URL rule; permissions and org isolation. Deliveries are in webhooks.test.ts.
 */
import { env } from 'cloudflare:workers'
import { and, eq } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { dbOf } from '../../src/db/client'
import { orgs, roles, subscriptions, userRoles, users } from '../../src/db/schema'
import { newId } from '../../src/domain/auth/secrets'
import { openSecret } from '../../src/domain/crypto/secret-box'
import { createSubscription } from '../../src/domain/subscriptions/subscriptions'
import { ApiError } from '../../src/http/errors'
import { apiKeyHeaders, newOrg, type OrgFixture } from './fixtures'
import { call } from './helpers'

const HOOK = 'https://hooks.example.com/rockit'

async function subscribe(org: OrgFixture, body: Record<string, unknown>) {
  return call('POST', '/be/v1/subscriptions', { headers: org.headers, body })
}

async function orgIdOf(orgName: string): Promise<string> {
  const row = await dbOf(env).select().from(orgs).where(eq(orgs.name, orgName)).get()
  return row!.id
}

/** A user whose only role grants `subscriptions` = `grant` (written to D1 like fixtures.ts). */
async function userWith(org: OrgFixture, grant: number): Promise<Record<string, string>> {
  const db = dbOf(env)
  const orgId = await orgIdOf(org.orgName)
  const roleId = newId()
  const userId = newId()
  const username = `limited_${grant}`
  await db.insert(roles).values({
    id: roleId,
    orgId,
    name: `subs_${grant}`,
    permissions: JSON.stringify({ subscriptions: grant, apps: 15 }),
  })
  await db.insert(users).values({ id: userId, orgId, username, machine: true })
  await db.insert(userRoles).values({ userId, roleId })
  return apiKeyHeaders(org.orgName, username)
}

describe('creating a subscription', () => {
  it('answers 201 with the subscription and its secret, which is never shown again', async () => {
    const org = await newOrg('subs')
    const answer = await subscribe(org, {
      name: 'ci_hook',
      target: { type: 'webhook', url: HOOK },
      events: [
        { type: 'dltar', event: 'end' },
        { type: 'deploy', event: 'error' },
      ],
    })
    expect(answer.status).toBe(201)
    expect(answer.body).toMatchObject({
      status: 'success',
      subscription: {
        name: 'ci_hook',
        target: { type: 'webhook', url: HOOK },
        events: [
          { type: 'dltar', event: 'end' },
          { type: 'deploy', event: 'error' },
        ],
        allEvents: false,
      },
    })
    const secret: string = answer.body.secret
    expect(secret).toMatch(/^rks_[A-Za-z0-9_-]{43}$/)

    const listed = await call('GET', '/be/v1/subscriptions', { headers: org.headers })
    const detail = await call('GET', '/be/v1/subscriptions/ci_hook', { headers: org.headers })
    expect(listed.status).toBe(200)
    expect(detail.status).toBe(200)
    for (const later of [listed, detail]) {
      expect(JSON.stringify(later.body)).not.toContain(secret)
      expect(JSON.stringify(later.body)).not.toContain('"secret"')
    }

    // At rest the secret is sealed, and only the instance key opens it.
    const row = await dbOf(env)
      .select()
      .from(subscriptions)
      .where(eq(subscriptions.name, 'ci_hook'))
      .get()
    expect(row!.secret).not.toContain(secret)
    expect(await openSecret(env.EDGE_ENCRYPTION_KEY, row!.secret, `subscription:${row!.id}`)).toBe(
      secret,
    )
  })

  it('subscribes to every event when events is left out, and each secret differs', async () => {
    const org = await newOrg('subs')
    const first = await subscribe(org, { name: 'all_1', target: { type: 'webhook', url: HOOK } })
    const second = await subscribe(org, { name: 'all_2', target: { type: 'webhook', url: HOOK } })
    expect(first.status).toBe(201)
    expect(first.body.subscription.allEvents).toBe(true)
    expect(first.body.subscription.events).toHaveLength(16)
    expect(first.body.subscription.events).toContainEqual({ type: 'mkdxf', event: 'begin' })
    expect(second.body.secret).not.toBe(first.body.secret)
  })

  it('answers 409 for a name the org already uses, but another org may use it', async () => {
    const org = await newOrg('subs')
    const other = await newOrg('subs')
    const body = { name: 'dup_name', target: { type: 'webhook', url: HOOK } }
    expect((await subscribe(org, body)).status).toBe(201)
    const again = await subscribe(org, body)
    expect(again.status).toBe(409)
    expect(again.body).toMatchObject({ status: 'error', code: 'conflict' })
    expect((await subscribe(other, body)).status).toBe(201)
  })

  it('masks the credential part of a Slack URL when showing it', async () => {
    const org = await newOrg('subs')
    const url = 'https://hooks.slack.com/services/T0001/B0002/abcdefSECRETxyz'
    const answer = await subscribe(org, { name: 'to_slack', target: { type: 'slack', url } })
    expect(answer.status).toBe(201)
    expect(answer.body.subscription.target).toEqual({
      type: 'slack',
      url: 'https://hooks.slack.com/services/T0001/B0002/***',
    })
    const detail = await call('GET', '/be/v1/subscriptions/to_slack', { headers: org.headers })
    expect(JSON.stringify(detail.body)).not.toContain('abcdefSECRETxyz')
  })
})

describe('bad input', () => {
  it.each([
    ['not a URL', 'hooks.example.com/x', 'absolute'],
    ['another scheme', 'ftp://hooks.example.com/x', 'http or https'],
    ['credentials in the URL', 'https://user:pw@hooks.example.com/x', 'credentials'],
    ['the service itself', 'http://edge.test/be/v1/orgs', 'this service'],
  ])('refuses %s as target.url', async (_what, url, reason) => {
    const org = await newOrg('subs')
    const answer = await subscribe(org, { name: 'bad_url', target: { type: 'webhook', url } })
    expect(answer.status).toBe(400)
    expect(answer.body.code).toBe('invalidParam')
    expect(answer.body.details).toEqual([
      { field: 'target.url', reason: expect.stringContaining(reason) },
    ])
  })

  it('refuses private and loopback targets when the instance does not allow them', async () => {
    // The test instance allows private targets (the receiver runs on loopback); an env copy with
    // the production setting exercises the refusal on the same code path the route uses.
    const org = await newOrg('subs')
    const strict = { ...env, ALLOW_PRIVATE_TARGETS: 'false' }
    const orgId = await orgIdOf(org.orgName)
    for (const url of ['http://127.0.0.1:9000/x', 'http://10.1.2.3/x', 'http://[::1]/x']) {
      const error = await createSubscription(strict, orgId, {
        name: 'private_x',
        target: { type: 'webhook', url },
      }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(ApiError)
      expect((error as ApiError).status).toBe(400)
      expect((error as ApiError).details).toEqual([
        { field: 'target.url', reason: expect.stringContaining('private') },
      ])
    }
    const allowed = await subscribe(org, {
      name: 'public_ok',
      target: { type: 'webhook', url: 'https://93.184.216.34/hook' },
    })
    expect(allowed.status).toBe(201)
  })

  it('names each bad field: name, target type, events, unknown fields', async () => {
    const org = await newOrg('subs')
    const answer = await subscribe(org, {
      name: 'x',
      target: { type: 'email', url: HOOK },
      events: [{ type: 'hello', event: 'submit' }],
      colour: 'red',
    })
    expect(answer.status).toBe(400)
    const fields = answer.body.details.map((d: { field: string }) => d.field)
    expect(fields).toEqual(
      expect.arrayContaining(['name', 'target.type', 'events.0.type', 'colour']),
    )

    const empty = await subscribe(org, {
      name: 'no_events',
      target: { type: 'webhook', url: HOOK },
      events: [],
    })
    expect(empty.status).toBe(400)
    expect(empty.body.details[0].field).toBe('events')

    const missingUrl = await subscribe(org, { name: 'no_url', target: { type: 'webhook' } })
    expect(missingUrl.status).toBe(400)
    expect(missingUrl.body.details[0].field).toBe('target.url')
  })
})

describe('listing, reading and deleting', () => {
  it('lists with order[], offset/limit and fields[]', async () => {
    const org = await newOrg('subs')
    for (const name of ['b_hook', 'a_hook', 'c_hook']) {
      expect((await subscribe(org, { name, target: { type: 'webhook', url: HOOK } })).status).toBe(
        201,
      )
    }
    const all = await call('GET', '/be/v1/subscriptions', { headers: org.headers })
    expect(all.body).toMatchObject({ status: 'success', total: 3, offset: 0, limit: 10 })
    expect(all.body.items.map((i: { name: string }) => i.name)).toEqual([
      'a_hook',
      'b_hook',
      'c_hook',
    ])

    const paged = await call(
      'GET',
      '/be/v1/subscriptions?order[]=-name&offset=1&limit=1&fields[]=name,target',
      { headers: org.headers },
    )
    expect(paged.status).toBe(200)
    expect(paged.body).toMatchObject({ total: 3, offset: 1, limit: 1 })
    expect(paged.body.items).toEqual([{ name: 'b_hook', target: { type: 'webhook', url: HOOK } }])

    const filtered = await call('GET', '/be/v1/subscriptions?name=C_HO', { headers: org.headers })
    expect(filtered.body.items.map((i: { name: string }) => i.name)).toEqual(['c_hook'])

    const badOrder = await call('GET', '/be/v1/subscriptions?order[]=secret', {
      headers: org.headers,
    })
    expect(badOrder.status).toBe(400)
    expect(badOrder.body.details[0].field).toBe('order[]')
  })

  it('shows a new subscription with no deliveries and no dead letters', async () => {
    const org = await newOrg('subs')
    await subscribe(org, { name: 'fresh', target: { type: 'webhook', url: HOOK } })
    const detail = await call('GET', '/be/v1/subscriptions/fresh', { headers: org.headers })
    expect(detail.status).toBe(200)
    expect(detail.body.subscription).toMatchObject({
      name: 'fresh',
      deliveries: [],
      deadLetters: { count: 0, items: [] },
    })
  })

  it('deletes, then answers 404 for it', async () => {
    const org = await newOrg('subs')
    await subscribe(org, { name: 'gone_soon', target: { type: 'webhook', url: HOOK } })
    const removed = await call('DELETE', '/be/v1/subscriptions/gone_soon', {
      headers: org.headers,
    })
    expect(removed.status).toBe(200)
    expect(removed.body).toEqual({ status: 'success', message: 'subscription deleted' })
    const after = await call('GET', '/be/v1/subscriptions/gone_soon', { headers: org.headers })
    expect(after.status).toBe(404)
    expect(after.body.code).toBe('notFound')
    const again = await call('DELETE', '/be/v1/subscriptions/gone_soon', { headers: org.headers })
    expect(again.status).toBe(404)
    const listed = await call('GET', '/be/v1/subscriptions', { headers: org.headers })
    expect(listed.body.total).toBe(0)
  })
})

describe('the OpenAPI document', () => {
  it('describes the subscription endpoints', async () => {
    const doc = await call('GET', '/openapi.json')
    expect(doc.status).toBe(200)
    expect(Object.keys(doc.body.paths['/be/v1/subscriptions'])).toEqual(
      expect.arrayContaining(['get', 'post']),
    )
    expect(Object.keys(doc.body.paths['/be/v1/subscriptions/{name}'])).toEqual(
      expect.arrayContaining(['get', 'delete']),
    )
    expect(JSON.stringify(doc.body.components.schemas.SubscriptionDetail)).toContain('deadLetters')
  })
})

describe('who may', () => {
  it('answers 401 without credentials', async () => {
    for (const [method, path] of [
      ['POST', '/be/v1/subscriptions'],
      ['GET', '/be/v1/subscriptions'],
      ['GET', '/be/v1/subscriptions/any_name'],
      ['DELETE', '/be/v1/subscriptions/any_name'],
    ]) {
      const answer = await call(method, path, {
        body:
          method === 'POST' ? { name: 'x_x', target: { type: 'webhook', url: HOOK } } : undefined,
      })
      expect(answer.status, `${method} ${path}`).toBe(401)
      expect(answer.body.code).toBe('unauthenticated')
    }
  })

  it('answers 403 naming subscriptions.<op> for a user without that permission', async () => {
    const org = await newOrg('subs')
    await subscribe(org, { name: 'guarded', target: { type: 'webhook', url: HOOK } })
    const none = await userWith(org, 0)
    const readOnly = await userWith(org, 2)

    const create = await call('POST', '/be/v1/subscriptions', {
      headers: readOnly,
      body: { name: 'mine', target: { type: 'webhook', url: HOOK } },
    })
    expect(create.status).toBe(403)
    expect(create.body).toMatchObject({
      code: 'forbidden',
      details: [{ permission: 'subscriptions.create' }],
    })
    expect(create.body.message).toContain('subscriptions.create')

    const list = await call('GET', '/be/v1/subscriptions', { headers: none })
    expect(list.status).toBe(403)
    expect(list.body.details).toEqual([{ permission: 'subscriptions.read' }])

    const read = await call('GET', '/be/v1/subscriptions/guarded', { headers: readOnly })
    expect(read.status).toBe(200)

    const remove = await call('DELETE', '/be/v1/subscriptions/guarded', { headers: readOnly })
    expect(remove.status).toBe(403)
    expect(remove.body.details).toEqual([{ permission: 'subscriptions.delete' }])
    expect(
      (await call('GET', '/be/v1/subscriptions/guarded', { headers: org.headers })).status,
    ).toBe(200)
  })

  it("never shows or deletes another org's subscription (404)", async () => {
    const owner = await newOrg('subs')
    const stranger = await newOrg('subs')
    await subscribe(owner, { name: 'private_hook', target: { type: 'webhook', url: HOOK } })

    const read = await call('GET', '/be/v1/subscriptions/private_hook', {
      headers: stranger.headers,
    })
    expect(read.status).toBe(404)
    const remove = await call('DELETE', '/be/v1/subscriptions/private_hook', {
      headers: stranger.headers,
    })
    expect(remove.status).toBe(404)
    const list = await call('GET', '/be/v1/subscriptions', { headers: stranger.headers })
    expect(list.body.total).toBe(0)

    const db = dbOf(env)
    const still = await db
      .select()
      .from(subscriptions)
      .where(
        and(
          eq(subscriptions.name, 'private_hook'),
          eq(subscriptions.orgId, await orgIdOf(owner.orgName)),
        ),
      )
      .get()
    expect(still).toBeDefined()
  })
})
