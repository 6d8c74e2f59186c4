/**
 * Deployments API: create, list, read, change and delete CDN origins; secrets sealed at rest and
 * never shown; bad input; permissions; and deletion through a prune task against the real S3
 * origin of `origins-global-setup.ts`.
 */
import { env } from 'cloudflare:workers'
import { eq } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { dbOf } from '../../src/db/client'
import { apps, deployments } from '../../src/db/schema'
import { storedOrigin } from '../../src/domain/deployments/deployment-store'
import { openDownloadAuth, openOrigin } from '../../src/domain/deployments/secret-box'
import { newOrg } from './fixtures'
import { call, waitForTask } from './helpers'
import {
  createDeployment,
  insertApp,
  orgIdOf,
  origins,
  s3Deployment,
  s3Reader,
  uniquePrefix,
  userWith,
} from './origin-fixtures'

const KEY = env.EDGE_ENCRYPTION_KEY

async function storedRow(orgName: string, name: string) {
  const orgId = await orgIdOf(orgName)
  const rows = await dbOf(env).select().from(deployments).where(eq(deployments.orgId, orgId)).all()
  return rows.find((row) => row.name === name)!
}

describe('creating and reading deployments', () => {
  it('creates an S3 deployment, shows secrets as *** and keeps them sealed in D1', async () => {
    const org = await newOrg('dep')
    const body = {
      ...s3Deployment('cdn_eu', 'games/eu'),
      label: 'Europe',
      downloadAuth: { type: 'akamai', key: '0a1b2c3d4e5f6789', ttlSec: 600 },
    }
    const answer = await call('POST', '/be/v1/deployments', { headers: org.headers, body })
    expect(answer.status).toBe(201)
    expect(answer.body).toMatchObject({ status: 'success', message: 'deployment created' })
    expect(answer.body.deployment).toEqual({
      name: 'cdn_eu',
      label: 'Europe',
      originPrefix: 'games/eu',
      origin: {
        type: 's3',
        endpoint: origins().s3,
        region: 'us-east-1',
        bucket: origins().bucket,
        accessKeyId: origins().accessKeyId,
        secretAccessKey: '***',
      },
      downloadAuth: { type: 'akamai', key: '***', ttlSec: 600 },
      publicUrl: null,
      status: 'unknown',
      message: null,
      rangeVerified: false,
      created: expect.any(String),
      updated: expect.any(String),
    })

    const read = await call('GET', '/be/v1/deployments/cdn_eu', { headers: org.headers })
    expect(read.status).toBe(200)
    expect(read.body.deployment).toEqual(answer.body.deployment)

    const row = await storedRow(org.orgName, 'cdn_eu')
    expect(row.origin).not.toContain(origins().secretAccessKey)
    expect(row.downloadAuth).not.toContain('0a1b2c3d4e5f6789')
    const opened = await openOrigin(KEY, row.id, storedOrigin(row))
    expect(opened).toMatchObject({ secretAccessKey: origins().secretAccessKey })
    const auth = await openDownloadAuth(KEY, row.id, JSON.parse(row.downloadAuth!))
    expect(auth.key).toBe('0a1b2c3d4e5f6789')
  })

  it('normalises a bare endpoint to https and accepts netstorage and r2 origins', async () => {
    const org = await newOrg('dep')
    const bare = await createDeployment(org.headers, {
      ...s3Deployment('bare', '/prefix/'),
      origin: { ...s3Deployment('x', 'y').origin, endpoint: 's3.eu-central-1.amazonaws.com' },
    })
    expect(bare.origin.endpoint).toBe('https://s3.eu-central-1.amazonaws.com')
    expect(bare.originPrefix).toBe('prefix')

    const ns = await createDeployment(org.headers, {
      name: 'akamai[1]',
      originPrefix: 'rockit',
      origin: {
        type: 'netstorage',
        host: 'example-nsu.akamaihd.net',
        keyName: 'k1',
        key: 'sekrit',
        cpCode: 123456,
      },
    })
    expect(ns.origin).toEqual({
      type: 'netstorage',
      host: 'https://example-nsu.akamaihd.net',
      keyName: 'k1',
      key: '***',
      cpCode: '123456',
    })
    const read = await call('GET', `/be/v1/deployments/${encodeURIComponent('akamai[1]')}`, {
      headers: org.headers,
    })
    expect(read.status).toBe(200)
    expect(read.body.deployment.name).toBe('akamai[1]')

    const r2 = await createDeployment(org.headers, {
      name: 'own',
      originPrefix: 'pub',
      origin: { type: 'r2' },
    })
    expect(r2.origin).toEqual({ type: 'r2', bucket: 'r2' })
  })

  it('lists with filters, order and fields', async () => {
    const org = await newOrg('dep')
    for (const name of ['alpha', 'beta_eu', 'gamma_eu']) {
      await createDeployment(org.headers, s3Deployment(name, 'p'))
    }
    await dbOf(env)
      .update(deployments)
      .set({ status: 'error', message: 'boom' })
      .where(eq(deployments.id, (await storedRow(org.orgName, 'beta_eu')).id))

    const all = await call('GET', '/be/v1/deployments?order[]=-name', { headers: org.headers })
    expect(all.status).toBe(200)
    expect(all.body).toMatchObject({ status: 'success', total: 3, offset: 0, limit: 10 })
    expect(all.body.items.map((d: { name: string }) => d.name)).toEqual([
      'gamma_eu',
      'beta_eu',
      'alpha',
    ])
    expect(JSON.stringify(all.body)).not.toContain(origins().secretAccessKey)

    const eu = await call('GET', '/be/v1/deployments?name=EU&fields[]=name,status', {
      headers: org.headers,
    })
    expect(eu.body.items).toEqual([
      { name: 'beta_eu', status: 'error' },
      { name: 'gamma_eu', status: 'unknown' },
    ])

    const failed = await call('GET', '/be/v1/deployments?error=true', { headers: org.headers })
    expect(failed.body.items.map((d: { name: string }) => d.name)).toEqual(['beta_eu'])
    const fine = await call('GET', '/be/v1/deployments?error=false', { headers: org.headers })
    expect(fine.body.items.map((d: { name: string }) => d.name)).toEqual(['alpha', 'gamma_eu'])

    const badField = await call('GET', '/be/v1/deployments?fields[]=secret', {
      headers: org.headers,
    })
    expect(badField.status).toBe(400)
  })

  it("keeps orgs apart: another org's deployment is not found", async () => {
    const a = await newOrg('dep')
    const b = await newOrg('dep')
    await createDeployment(a.headers, s3Deployment('mine', 'p'))
    const other = await call('GET', '/be/v1/deployments/mine', { headers: b.headers })
    expect(other.status).toBe(404)
    const list = await call('GET', '/be/v1/deployments', { headers: b.headers })
    expect(list.body.total).toBe(0)
  })
})

describe('the OpenAPI document', () => {
  it('describes the deployment routes', async () => {
    const doc = await call('GET', '/openapi.json')
    expect(doc.status).toBe(200)
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining(['/be/v1/deployments', '/be/v1/deployments/{name}']),
    )
    expect(Object.keys(doc.body.paths['/be/v1/deployments'])).toEqual(
      expect.arrayContaining(['get', 'post', 'patch']),
    )
    const schemas = doc.body.components.schemas
    expect(schemas.Deployment.properties.publicUrl).toBeDefined()
    expect(schemas.Deployment.required).toContain('publicUrl')
    expect(schemas.CreateDeployment.properties.publicUrl).toBeDefined()
    expect(schemas.UpdateDeployment.properties.publicUrl).toBeDefined()
  })
})

describe('bad input', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    [
      'an endpoint holding the bucket as a path',
      { endpoint: 'http://127.0.0.1:9000/rockit-origin' },
      'origin.endpoint',
    ],
    [
      'a virtual-hosted endpoint',
      { endpoint: 'rockit-origin.s3.amazonaws.com' },
      'origin.endpoint',
    ],
    ['a non-http endpoint', { endpoint: 'ftp://files.example.com' }, 'origin.endpoint'],
    ['an endpoint with credentials', { endpoint: 'https://u:p@s3.example.com' }, 'origin.endpoint'],
    ['the service itself', { endpoint: 'http://edge.test' }, 'origin.endpoint'],
    ['a missing secret', { secretAccessKey: undefined }, 'origin.secretAccessKey'],
    ['an unknown origin field', { token: 'x' }, 'origin.token'],
    ['a bad bucket', { bucket: 'a' }, 'origin.bucket'],
  ]
  for (const [what, origin, field] of cases) {
    it(`refuses ${what} with 400 naming ${field}`, async () => {
      const org = await newOrg('bad')
      const answer = await call('POST', '/be/v1/deployments', {
        headers: org.headers,
        body: s3Deployment('d1', 'p', origin),
      })
      expect(answer.status).toBe(400)
      expect(answer.body.code).toBe('invalidParam')
      expect(answer.body.details.map((d: { field: string }) => d.field)).toContain(field)
    })
  }

  it('refuses bad names, prefixes, types and unknown fields, and a taken name with 409', async () => {
    const org = await newOrg('bad')
    const bodies = [
      s3Deployment('a', 'p'),
      s3Deployment('has space', 'p'),
      s3Deployment('ok_name', '../up'),
      { ...s3Deployment('ok_name', 'p'), extra: 1 },
      { name: 'ok_name', originPrefix: 'p', origin: { type: 'ftp' } },
      { ...s3Deployment('ok_name', 'p'), downloadAuth: { type: 'other', key: 'k', ttlSec: 1 } },
    ]
    for (const body of bodies) {
      const answer = await call('POST', '/be/v1/deployments', { headers: org.headers, body })
      expect(answer.status, JSON.stringify(body)).toBe(400)
    }
    await createDeployment(org.headers, s3Deployment('taken', 'p'))
    const again = await call('POST', '/be/v1/deployments', {
      headers: org.headers,
      body: s3Deployment('taken', 'q'),
    })
    expect(again.status).toBe(409)
  })
})

describe('public download URL', () => {
  it('stores publicUrl without a trailing slash, shows it, and PATCH null removes it', async () => {
    const org = await newOrg('pub')
    const made = await createDeployment(org.headers, {
      ...s3Deployment('cdn', 'games'),
      publicUrl: 'https://cdn.example.com/edge/',
    })
    expect(made.publicUrl).toBe('https://cdn.example.com/edge')
    expect((await storedRow(org.orgName, 'cdn')).publicUrl).toBe('https://cdn.example.com/edge')

    const changed = await call('PATCH', '/be/v1/deployments', {
      headers: org.headers,
      body: { name: 'cdn', publicUrl: 'http://127.0.0.1:8080' },
    })
    expect(changed.status).toBe(200)
    expect(changed.body.deployment.publicUrl).toBe('http://127.0.0.1:8080')
    const kept = await call('PATCH', '/be/v1/deployments', {
      headers: org.headers,
      body: { name: 'cdn', label: 'x' },
    })
    expect(kept.body.deployment.publicUrl).toBe('http://127.0.0.1:8080')

    const removed = await call('PATCH', '/be/v1/deployments', {
      headers: org.headers,
      body: { name: 'cdn', publicUrl: null },
    })
    expect(removed.body.deployment.publicUrl).toBeNull()
    const listed = await call('GET', '/be/v1/deployments?fields[]=name,publicUrl', {
      headers: org.headers,
    })
    expect(listed.body.items).toEqual([{ name: 'cdn', publicUrl: null }])
  })

  it('refuses a publicUrl that is not an absolute http(s) URL without credentials or query', async () => {
    const org = await newOrg('pub')
    await createDeployment(org.headers, s3Deployment('cdn', 'games'))
    for (const publicUrl of [
      'cdn.example.com',
      'ftp://cdn.example.com',
      'https://u:p@cdn.example.com',
      'https://cdn.example.com/?x=1',
      'https://cdn.example.com/#top',
      '',
    ]) {
      const created = await call('POST', '/be/v1/deployments', {
        headers: org.headers,
        body: { ...s3Deployment('other', 'games'), publicUrl },
      })
      expect(created.status, publicUrl).toBe(400)
      expect(created.body.details.map((d: { field: string }) => d.field)).toEqual(['publicUrl'])
      const patched = await call('PATCH', '/be/v1/deployments', {
        headers: org.headers,
        body: { name: 'cdn', publicUrl },
      })
      expect(patched.status, publicUrl).toBe(400)
    }
    expect((await storedRow(org.orgName, 'cdn')).publicUrl).toBeNull()
  })

  it('takes only an akamai token key of hex digits', async () => {
    const org = await newOrg('pub')
    const bad = await call('POST', '/be/v1/deployments', {
      headers: org.headers,
      body: { ...s3Deployment('cdn', 'p'), downloadAuth: { type: 'akamai', key: 'k', ttlSec: 60 } },
    })
    expect(bad.status).toBe(400)
    expect(bad.body.details.map((d: { field: string }) => d.field)).toEqual(['downloadAuth.key'])

    await createDeployment(org.headers, {
      ...s3Deployment('cdn', 'p'),
      downloadAuth: { type: 'gcore', key: 'gcore-key', ttlSec: 60 },
    })
    const switched = await call('PATCH', '/be/v1/deployments', {
      headers: org.headers,
      body: { name: 'cdn', downloadAuth: { type: 'akamai', key: 'not-hex', ttlSec: 60 } },
    })
    expect(switched.status).toBe(400)
    expect(switched.body.details[0].field).toBe('downloadAuth.key')
    const fixed = await call('PATCH', '/be/v1/deployments', {
      headers: org.headers,
      body: { name: 'cdn', downloadAuth: { type: 'akamai', key: 'ABCDEF01', ttlSec: 60 } },
    })
    expect(fixed.status).toBe(200)
    expect(fixed.body.deployment.downloadAuth).toEqual({ type: 'akamai', key: '***', ttlSec: 60 })
  })
})

describe('changing deployments', () => {
  it('changes only what is sent, merges origin fields, and null removes label and downloadAuth', async () => {
    const org = await newOrg('chg')
    await createDeployment(org.headers, {
      ...s3Deployment('cdn', 'p'),
      label: 'first',
      downloadAuth: { type: 'gcore', key: 'k1', ttlSec: 60 },
    })

    const region = await call('PATCH', '/be/v1/deployments', {
      headers: org.headers,
      body: { name: 'cdn', origin: { region: 'eu-west-1' }, downloadAuth: { ttlSec: 120 } },
    })
    expect(region.status).toBe(200)
    expect(region.body).toMatchObject({ status: 'success', message: 'deployment modified' })
    expect(region.body.deployment).toMatchObject({
      label: 'first',
      originPrefix: 'p',
      origin: { type: 's3', region: 'eu-west-1', bucket: origins().bucket, secretAccessKey: '***' },
      downloadAuth: { type: 'gcore', key: '***', ttlSec: 120 },
    })
    const row = await storedRow(org.orgName, 'cdn')
    expect(await openOrigin(KEY, row.id, storedOrigin(row))).toMatchObject({
      secretAccessKey: origins().secretAccessKey,
    })
    expect((await openDownloadAuth(KEY, row.id, JSON.parse(row.downloadAuth!))).key).toBe('k1')

    const removed = await call('PATCH', '/be/v1/deployments', {
      headers: org.headers,
      body: { name: 'cdn', label: null, downloadAuth: null },
    })
    expect(removed.body.deployment).toMatchObject({ label: null, downloadAuth: null })

    const replaced = await call('PATCH', '/be/v1/deployments', {
      headers: org.headers,
      body: { name: 'cdn', origin: { type: 'r2', bucket: 'mirror' } },
    })
    expect(replaced.status).toBe(200)
    expect(replaced.body.deployment.origin).toEqual({ type: 'r2', bucket: 'mirror' })
  })

  it('refuses an incomplete new origin type, a bad merged origin and an unknown name', async () => {
    const org = await newOrg('chg')
    await createDeployment(org.headers, s3Deployment('cdn', 'p'))
    const incomplete = await call('PATCH', '/be/v1/deployments', {
      headers: org.headers,
      body: { name: 'cdn', origin: { type: 'netstorage', host: 'example-nsu.akamaihd.net' } },
    })
    expect(incomplete.status).toBe(400)
    expect(incomplete.body.details.map((d: { field: string }) => d.field)).toEqual(
      expect.arrayContaining(['origin.keyName', 'origin.key', 'origin.cpCode']),
    )

    const wrongField = await call('PATCH', '/be/v1/deployments', {
      headers: org.headers,
      body: { name: 'cdn', origin: { host: 'example.com' } },
    })
    expect(wrongField.status).toBe(400)

    const badEndpoint = await call('PATCH', '/be/v1/deployments', {
      headers: org.headers,
      body: { name: 'cdn', origin: { endpoint: 'http://127.0.0.1:9/bucket' } },
    })
    expect(badEndpoint.status).toBe(400)
    expect(badEndpoint.body.details[0].field).toBe('origin.endpoint')

    const unknown = await call('PATCH', '/be/v1/deployments', {
      headers: org.headers,
      body: { name: 'nope', label: 'x' },
    })
    expect(unknown.status).toBe(404)
  })
})

describe('permissions', () => {
  it('needs deployments C/R/U/D and a credential', async () => {
    const org = await newOrg('perm')
    await createDeployment(org.headers, s3Deployment('cdn', 'p'))
    const none = await userWith(org.orgName, { apps: 15 })
    const reader = await userWith(org.orgName, { deployments: 2 })

    const attempts: [string, string, unknown, string][] = [
      ['POST', '/be/v1/deployments', s3Deployment('x1', 'p'), 'deployments.create'],
      ['GET', '/be/v1/deployments', undefined, 'deployments.read'],
      ['GET', '/be/v1/deployments/cdn', undefined, 'deployments.read'],
      ['PATCH', '/be/v1/deployments', { name: 'cdn', label: 'x' }, 'deployments.update'],
      ['DELETE', '/be/v1/deployments/cdn', undefined, 'deployments.delete'],
    ]
    for (const [method, path, body, permission] of attempts) {
      const answer = await call(method, path, { headers: none, body })
      expect(answer.status, `${method} ${path}`).toBe(403)
      expect(answer.body.details).toEqual([{ permission }])
    }

    expect((await call('GET', '/be/v1/deployments/cdn', { headers: reader })).status).toBe(200)
    const write = await call('PATCH', '/be/v1/deployments', {
      headers: reader,
      body: { name: 'cdn', label: 'x' },
    })
    expect(write.status).toBe(403)

    expect((await call('GET', '/be/v1/deployments')).status).toBe(401)
    expect(
      (await call('POST', '/be/v1/deployments', { body: s3Deployment('x2', 'p') })).status,
    ).toBe(401)
  })
})

describe('deleting deployments', () => {
  it('is refused with 409 while an app lists the deployment', async () => {
    const org = await newOrg('del')
    await createDeployment(org.headers, s3Deployment('cdn', 'p'))
    const app = await insertApp(await orgIdOf(org.orgName), 'game1', ['cdn'])

    const refused = await call('DELETE', '/be/v1/deployments/cdn', { headers: org.headers })
    expect(refused.status).toBe(409)
    expect(refused.body.message).toContain('game1')

    await dbOf(env).update(apps).set({ deployments: '[]' }).where(eq(apps.id, app.id))
    const accepted = await call('DELETE', '/be/v1/deployments/cdn', { headers: org.headers })
    expect(accepted.status).toBe(202)
    expect((await waitForTask(accepted.body.taskName)).state).toBe('succeeded')
    expect((await call('GET', '/be/v1/deployments/cdn', { headers: org.headers })).status).toBe(404)
  }, 60_000)

  it("removes the org's published files from the origin, and only them, then the record", async () => {
    const org = await newOrg('del')
    const prefix = uniquePrefix('del')
    await createDeployment(org.headers, s3Deployment('cdn', prefix))
    const s3 = s3Reader()
    const ours = [
      `${prefix}/dxf/${org.orgName}/game/0001/dxf-0001-01/image.dxf`,
      `${prefix}/dxf/${org.orgName}/game/0001/dxf-0001-01/profile.json`,
      `${prefix}/pat/${org.orgName}/game/0002/0001/patch.dxf`,
    ]
    const theirs = `${prefix}/dxf/other_org/game/0001/dxf-0001-01/image.dxf`
    for (const key of [...ours, theirs]) {
      expect((await s3.put(key, new TextEncoder().encode(key))).status).toBe(200)
    }

    const accepted = await call('DELETE', '/be/v1/deployments/cdn', { headers: org.headers })
    expect(accepted.status).toBe(202)
    const task = await waitForTask(accepted.body.taskName)
    expect(task).toMatchObject({ type: 'prune', state: 'succeeded' })
    expect(task.result).toMatchObject({ deleted: 3 })

    expect(await s3.list(`${prefix}/`)).toEqual([theirs])
    expect((await call('GET', '/be/v1/deployments/cdn', { headers: org.headers })).status).toBe(404)
  }, 60_000)

  it('answers 404 for an unknown deployment', async () => {
    const org = await newOrg('del')
    expect((await call('DELETE', '/be/v1/deployments/none', { headers: org.headers })).status).toBe(
      404,
    )
  })
})
