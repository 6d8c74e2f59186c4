import { describe, expect, it } from 'vitest'
import { adminHeaders, call, waitForTask } from './helpers'

describe('what every endpoint shares', () => {
  it('reports the schema version of the newest migration', async () => {
    const { env } = await import('cloudflare:workers')
    const newest = env.TEST_MIGRATIONS.at(-1)?.name.replace(/\.sql$/, '')
    const answer = await call('GET', '/srv/v1/versions')
    expect(answer.body.versions.schema).toBe(newest)
  })

  it('reports versions without authentication', async () => {
    const answer = await call('GET', '/srv/v1/versions')
    expect(answer.status).toBe(200)
    expect(answer.body).toMatchObject({
      status: 'success',
      versions: { service: '0.1.0', imageFormat: 'dxf/1' },
    })
  })

  it('answers unknown paths with a JSON 404 in the error envelope', async () => {
    const answer = await call('GET', '/be/v1/nothing-here')
    expect(answer.status).toBe(404)
    expect(answer.body).toMatchObject({ status: 'error', code: 'notFound', details: [] })
  })

  it('answers a wrong method with 405 and Allow', async () => {
    const answer = await call('DELETE', '/srv/v1/versions')
    expect(answer.status).toBe(405)
    expect(answer.headers.get('allow')).toContain('GET')
    expect(answer.body.code).toBe('methodNotAllowed')
  })

  it('echoes a client request id and makes one otherwise', async () => {
    const echoed = await call('GET', '/srv/v1/versions', { headers: { 'x-request-id': 'abc-123' } })
    expect(echoed.headers.get('x-request-id')).toBe('abc-123')
    const traced = 'Root=1-5759e988;Parent=53995c3f.42;Sampled=1'
    const tracing = await call('GET', '/srv/v1/versions', { headers: { 'x-request-id': traced } })
    expect(tracing.headers.get('x-request-id')).toBe(traced)
    expect(tracing.headers.get('content-type')).toBe('application/json; charset=utf-8')
    const made = await call('GET', '/srv/v1/versions')
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
  })

  it('serves the OpenAPI 3.1 document and the docs page', async () => {
    const doc = await call('GET', '/openapi.json')
    expect(doc.status).toBe(200)
    expect(doc.body.openapi).toBe('3.1.0')
    expect(Object.keys(doc.body.paths)).toContain('/adm/v1/hello')
    expect(doc.body.components.securitySchemes.apiKey).toMatchObject({
      in: 'header',
      name: 'x-rockit-api-key',
    })
    expect(doc.body.paths['/adm/v1/orgs'].post.security).toEqual([{ adminToken: [] }])
    expect(doc.body.paths['/be/v1/users'].post.security).toContainEqual({
      orgName: [],
      username: [],
      apiKey: [],
    })
    expect(doc.body.paths['/be/v1/login'].post.security).toEqual([])
    expect(doc.body.paths['/be/v1/users'].post.responses).toHaveProperty('415')
    const page = await call('GET', '/docs')
    expect(page.status).toBe(200)
    expect(String(page.body)).toContain('/openapi.json')
  })
})

describe('Admin API basics', () => {
  it('pings with a valid admin token', async () => {
    const answer = await call('POST', '/adm/v1/ping', { headers: await adminHeaders() })
    expect(answer.status).toBe(200)
    expect(answer.body).toMatchObject({ status: 'success', message: 'pong', version: '0.1.0' })
  })

  it('refuses a missing, forged or alg:none admin token with 401', async () => {
    expect((await call('POST', '/adm/v1/ping')).status).toBe(401)
    const good = (await adminHeaders())['x-rockit-admin-token']
    const [head, payload] = good.split('.')
    const forged = `${head}.${payload}.${'A'.repeat(43)}`
    expect(
      (await call('POST', '/adm/v1/ping', { headers: { 'x-rockit-admin-token': forged } })).status,
    ).toBe(401)
    const none = `${btoa('{"alg":"none","typ":"JWT"}').replace(/=+$/, '')}.${payload}.`
    const answer = await call('POST', '/adm/v1/ping', { headers: { 'x-rockit-admin-token': none } })
    expect(answer.status).toBe(401)
    expect(answer.body).toMatchObject({ status: 'error', code: 'unauthenticated' })
  })

  it('runs hello through the task queue and shows its result', async () => {
    const answer = await call('POST', '/adm/v1/hello', {
      headers: await adminHeaders(),
      body: { message: 'hi there', maintenance: false },
    })
    expect(answer.status).toBe(202)
    const task = await waitForTask(answer.body.taskName)
    expect(task).toMatchObject({ type: 'hello', state: 'succeeded', progress: 1, attempts: 1 })
    expect(task.result.message).toBe('hi there')
  })

  it('refuses unknown fields, malformed JSON, wrong types and oversize bodies', async () => {
    const headers = await adminHeaders()
    const unknown = await call('POST', '/adm/v1/hello', {
      headers,
      body: { message: 'x', colour: 'red' },
    })
    expect(unknown.status).toBe(400)
    expect(unknown.body.details).toContainEqual({ field: 'colour', reason: 'unknown field' })

    const malformed = await call('POST', '/adm/v1/hello', {
      headers: { ...headers, 'content-type': 'application/json' },
      raw: '{"message":',
    })
    expect(malformed.status).toBe(400)
    expect(malformed.body.status).toBe('error')

    const wrongType = await call('POST', '/adm/v1/hello', {
      headers: { ...headers, 'content-type': 'text/plain' },
      raw: 'hello',
    })
    expect(wrongType.status).toBe(415)

    const big = await call('POST', '/adm/v1/hello', {
      headers,
      body: { message: 'x'.repeat(2 * 1024 * 1024) },
    })
    expect(big.status).toBe(413)
    expect(big.body.code).toBe('tooLarge')
  })
})

describe('org creation and API-key authentication', () => {
  it('creates an org through the Admin API and answers its password once', async () => {
    const { newOrg } = await import('./fixtures')
    const org = await newOrg('iso')
    expect(org.adminPassword).toMatch(/^[A-Za-z0-9]{20}$/)
    const again = await call('POST', '/adm/v1/orgs', {
      headers: await adminHeaders(),
      body: { orgName: org.orgName, admin: { username: 'admin', email: 'a@example.com' } },
    })
    expect(again.status).toBe(409)
    expect(again.body.code).toBe('conflict')
  })

  it('answers 409, not 500, to the loser of two creates racing for one name', async () => {
    const headers = await adminHeaders()
    const body = { orgName: 'race_org', admin: { username: 'admin', email: 'a@example.com' } }
    const answers = await Promise.all([
      call('POST', '/adm/v1/orgs', { headers, body }),
      call('POST', '/adm/v1/orgs', { headers, body }),
      call('POST', '/adm/v1/orgs', { headers, body }),
    ])
    const statuses = answers.map((a) => a.status).sort()
    expect(statuses).toEqual([201, 409, 409])
  })

  it('refuses bad org names with 400 naming the field', async () => {
    const answer = await call('POST', '/adm/v1/orgs', {
      headers: await adminHeaders(),
      body: { orgName: 'bad name!', admin: { username: 'x', email: 'nope' } },
    })
    expect(answer.status).toBe(400)
    const fields = answer.body.details.map((d: { field: string }) => d.field)
    expect(fields).toEqual(expect.arrayContaining(['orgName', 'admin.username', 'admin.email']))
  })

  it('refuses incomplete API-key headers with 401', async () => {
    const answer = await call('POST', '/be/v1/orgs', {
      headers: { 'x-rockit-api-key': 'rkk_whatever' },
      body: { orgName: 'zz_zz', admin: { username: 'admin', email: 'a@example.com' } },
    })
    expect(answer.status).toBe(401)
  })
})

describe('logging', () => {
  it('never logs the secret of an upload URL', async () => {
    const { loggablePath } = await import('../../src/http/middleware/access-log')
    const logged = loggablePath('/upload/rku_nQ2JNlGccmbtTtZst1m4QkBfX5oTJbcxHKVNZe4rUAI')
    expect(logged).toBe('/upload/rku_nQ2J…')
    expect(loggablePath('/be/v1/apps')).toBe('/be/v1/apps')
  })
})
