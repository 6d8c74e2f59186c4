import { env } from 'cloudflare:workers'
import { and, eq } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { runCron } from '../../src/cron'
import { dbOf } from '../../src/db/client'
import {
  apps,
  builds,
  deployments,
  patches,
  retiredFiles,
  tasks,
  uploads,
} from '../../src/db/schema'
import { eraseAppStep } from '../../src/domain/apps/erase-app'
import { purgePrefix } from '../../src/domain/apps/purge'
import { sha256Hex } from '../../src/domain/auth/secrets'
import { createLogger } from '../../src/http/log'
import { appPrefix, buildKeys, imageKeys } from '../../src/storage/keys'
import type { StepContext } from '../../src/tasks/types'
import {
  appName,
  insertBuild,
  insertDeployment,
  insertPatch,
  insertTask,
  keysUnder,
  newApp,
  patternBytes,
  putImage,
  userWithPermissions,
} from './app-fixtures'
import { newOrg } from './fixtures'
import { call, waitForTask } from './helpers'
import { createDeployment, s3Deployment, s3Reader, uniquePrefix } from './origin-fixtures'

const clientHeaders = (orgName: string, app: string, traceKey: string) => ({
  'x-rockit-orgname': orgName,
  'x-rockit-appname': app,
  'x-rockit-trace-key': traceKey,
})

describe('OpenAPI', () => {
  it('documents the app, task, trigger, depot and client routes', async () => {
    const doc = await call('GET', '/openapi.json')
    expect(doc.status).toBe(200)
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining([
        '/be/v1/apps',
        '/be/v1/apps/{appName}',
        '/be/v1/tasks',
        '/be/v1/tasks/{taskName}',
        '/be/v1/trigger',
        '/depot/dxf/{orgName}/{appName}/{buildId}/{dxfName}/{file}',
        '/depot/pat/{orgName}/{appName}/{toBuildId}/{fromBuildId}/{file}',
        '/client/v1/apps/{orgName}/{appName}',
      ]),
    )
  })
})

describe('POST /be/v1/apps', () => {
  it('creates an app with defaults and answers its trace key once', async () => {
    const org = await newOrg('apps')
    const name = appName()
    const answer = await call('POST', '/be/v1/apps', {
      headers: org.headers,
      body: { name, label: 'My game' },
    })
    expect(answer.status).toBe(201)
    expect(answer.body).toMatchObject({ status: 'success', message: 'app created' })
    expect(answer.body.traceKey).toMatch(/^rkt_[A-Za-z0-9_-]{43}$/)
    expect(answer.body.app).toEqual({
      name,
      label: 'My game',
      state: 'idle',
      processing: false,
      exporting: false,
      locked: false,
      iCurBuild: null,
      maxBuilds: 5,
      builds: [],
      dxfName: null,
      patches: [],
      deployments: [],
      sizeBytes: 0,
      blockSize: 65536,
      training: {
        nTracesReliable: 30,
        minCoverage: 0.2,
        maxCoverage: 0.6,
        minTraceTimeSec: 1800,
        nProcessTracesMin: 30,
        uploadTrace: true,
      },
      created: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      updated: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    })

    const row = await dbOf(env).select().from(apps).where(eq(apps.name, name)).get()
    expect(row?.traceKeyHash).toBe(await sha256Hex(answer.body.traceKey))
    expect(JSON.stringify(row)).not.toContain(answer.body.traceKey)

    const read = await call('GET', `/be/v1/apps/${name}`, { headers: org.headers })
    expect(read.status).toBe(200)
    expect(read.body.app).toEqual(answer.body.app)
    expect(read.body.traceKey).toBeUndefined()
  })

  it('takes settings, training and existing deployments', async () => {
    const org = await newOrg('apps')
    await insertDeployment(org.orgName, 'cdn_eu')
    await insertDeployment(org.orgName, 'cdn[us]')
    const answer = await call('POST', '/be/v1/apps', {
      headers: org.headers,
      body: {
        name: appName(),
        label: 'x',
        maxBuilds: 50,
        blockSize: 4096,
        deployments: ['cdn_eu', 'cdn[us]', 'cdn_eu'],
        training: { nTracesReliable: 5, minCoverage: 0.5, maxCoverage: 0.5, uploadTrace: false },
      },
    })
    expect(answer.status).toBe(201)
    expect(answer.body.app).toMatchObject({
      maxBuilds: 50,
      blockSize: 4096,
      deployments: ['cdn_eu', 'cdn[us]'],
      training: {
        nTracesReliable: 5,
        minCoverage: 0.5,
        maxCoverage: 0.5,
        minTraceTimeSec: 1800,
        nProcessTracesMin: 30,
        uploadTrace: false,
      },
    })
  })

  it('refuses a duplicate name with 409 and allows it in another org', async () => {
    const org = await newOrg('apps')
    const other = await newOrg('apps')
    const { name } = await newApp(org)
    const again = await call('POST', '/be/v1/apps', {
      headers: org.headers,
      body: { name, label: 'again' },
    })
    expect(again.status).toBe(409)
    expect(again.body.code).toBe('conflict')
    expect((await newApp(other, { name })).name).toBe(name)
  })

  it.each([
    [{ name: 'a', label: 'x' }, 'name'],
    [{ name: 'bad-name', label: 'x' }, 'name'],
    [{ name: 'x'.repeat(51), label: 'x' }, 'name'],
    [{ name: 'ok_name' }, 'label'],
    [{ name: 'ok_name', label: 'x', blockSize: 5000 }, 'blockSize'],
    [{ name: 'ok_name', label: 'x', blockSize: 2048 }, 'blockSize'],
    [{ name: 'ok_name', label: 'x', blockSize: 8 * 1024 * 1024 }, 'blockSize'],
    [{ name: 'ok_name', label: 'x', maxBuilds: 0 }, 'maxBuilds'],
    [{ name: 'ok_name', label: 'x', maxBuilds: 51 }, 'maxBuilds'],
    [{ name: 'ok_name', label: 'x', maxBuilds: 2.5 }, 'maxBuilds'],
    [{ name: 'ok_name', label: 'x', training: { minCoverage: 1.5 } }, 'training.minCoverage'],
    [{ name: 'ok_name', label: 'x', training: { nTracesReliable: 0 } }, 'training.nTracesReliable'],
    [
      { name: 'ok_name', label: 'x', training: { minCoverage: 0.7, maxCoverage: 0.6 } },
      'training.minCoverage',
    ],
    [{ name: 'ok_name', label: 'x', training: { colour: 1 } }, 'training.colour'],
    [{ name: 'ok_name', label: 'x', colour: 'red' }, 'colour'],
    [{ name: 'ok_name', label: 'x', deployments: ['nowhere'] }, 'deployments'],
  ])('refuses %j with 400 naming %s', async (body, field) => {
    const org = await newOrg('apps')
    const answer = await call('POST', '/be/v1/apps', { headers: org.headers, body })
    expect(answer.status).toBe(400)
    expect(answer.body.code).toBe('invalidParam')
    expect(answer.body.details.map((d: { field: string }) => d.field)).toContain(field)
    const list = await call('GET', '/be/v1/apps', { headers: org.headers })
    expect(list.body.total).toBe(0)
  })

  it('needs a credential (401) and apps.create (403)', async () => {
    const org = await newOrg('apps')
    const body = { name: appName(), label: 'x' }
    const anonymous = await call('POST', '/be/v1/apps', { body })
    expect(anonymous.status).toBe(401)

    const reader = await userWithPermissions(org.orgName, { apps: 2 })
    const refused = await call('POST', '/be/v1/apps', { headers: reader, body })
    expect(refused.status).toBe(403)
    expect(refused.body.details).toEqual([{ permission: 'apps.create' }])
    expect(refused.body.message).toContain('apps.create')

    const creator = await userWithPermissions(org.orgName, { apps: 1 })
    expect((await call('POST', '/be/v1/apps', { headers: creator, body })).status).toBe(201)
    const cannotRead = await call('GET', '/be/v1/apps', { headers: creator })
    expect(cannotRead.status).toBe(403)
    expect(cannotRead.body.details).toEqual([{ permission: 'apps.read' }])
    expect((await call('GET', '/be/v1/apps', { headers: reader })).body.total).toBe(1)
  })
})

describe('GET /be/v1/apps', () => {
  it('filters by part of the name (wildcards taken literally), pages, orders and projects', async () => {
    const org = await newOrg('apps')
    for (const name of ['game_one', 'gameXone', 'tool_b', 'tool_a']) {
      await newApp(org, { name })
    }

    const partial = await call('GET', '/be/v1/apps?name=e_o', { headers: org.headers })
    expect(partial.body.items.map((a: { name: string }) => a.name)).toEqual(['game_one'])

    const ordered = await call('GET', '/be/v1/apps?order[]=-name&limit=2&offset=1', {
      headers: org.headers,
    })
    expect(ordered.body).toMatchObject({ status: 'success', total: 4, offset: 1, limit: 2 })
    expect(ordered.body.items.map((a: { name: string }) => a.name)).toEqual(['tool_a', 'game_one'])

    const projected = await call('GET', '/be/v1/apps?fields[]=name,state&name=tool', {
      headers: org.headers,
    })
    expect(projected.body.items).toEqual([
      { name: 'tool_a', state: 'idle' },
      { name: 'tool_b', state: 'idle' },
    ])

    const badField = await call('GET', '/be/v1/apps?fields[]=secret', { headers: org.headers })
    expect(badField.status).toBe(400)
    const badOrder = await call('GET', '/be/v1/apps?order[]=label', { headers: org.headers })
    expect(badOrder.status).toBe(400)
    const badState = await call('GET', '/be/v1/apps?state=sleeping', { headers: org.headers })
    expect(badState.status).toBe(400)
  })

  it('derives the state from the tasks of each app and filters by it', async () => {
    const org = await newOrg('apps')
    const idle = await newApp(org, { name: 'a_idle' })
    const busy = await newApp(org, { name: 'b_busy' })
    const both = await newApp(org, { name: 'c_both' })
    const failed = await newApp(org, { name: 'd_failed' })
    const locked = await newApp(org, { name: 'e_locked' })
    const retried = await newApp(org, { name: 'f_retried' })
    const ids = (a: { orgId: string; appId: string; name: string }) => ({
      orgId: a.orgId,
      appId: a.appId,
      appName: a.name,
    })

    await insertTask({ ...ids(idle), type: 'mkraw', state: 'succeeded' })
    await insertTask({ ...ids(idle), type: 'dltar', state: 'submitted' })
    await insertTask({ ...ids(busy), type: 'mkraw', state: 'running' })
    await insertTask({ ...ids(both), type: 'deploy', state: 'submitted' })
    await insertTask({ ...ids(both), type: 'mkdxf', state: 'submitted' })
    await insertTask({
      ...ids(failed),
      type: 'mkraw',
      state: 'succeeded',
      created: '2026-01-01T00:00:00.000Z',
    })
    await insertTask({
      ...ids(failed),
      type: 'mkdxf',
      state: 'failed',
      created: '2026-01-02T00:00:00.000Z',
      exception: { code: 'internal', message: 'ran out of luck' },
    })
    await insertTask({
      ...ids(locked),
      type: 'deploy',
      state: 'failed',
      exception: { code: 'originRefused', message: 'origin said 403' },
    })
    await insertTask({ ...ids(locked), type: 'mkraw', state: 'running' })
    // The deploy task locks the app when a publish fails (as it does for a real failure).
    await dbOf(env).update(apps).set({ locked: true }).where(eq(apps.id, locked.appId))
    // A retry succeeded and unlocked the app, but a deploy refused meanwhile with appLocked is
    // the newest deploy: the app must not look locked.
    await insertTask({
      ...ids(retried),
      type: 'deploy',
      state: 'succeeded',
      created: '2026-01-01T00:00:00.000Z',
    })
    await insertTask({
      ...ids(retried),
      type: 'deploy',
      state: 'failed',
      created: '2026-01-02T00:00:00.000Z',
      exception: { code: 'appLocked', message: 'app f_retried is locked by a failed publish' },
    })

    const all = await call('GET', '/be/v1/apps?fields[]=name,state,processing,exporting,locked', {
      headers: org.headers,
    })
    expect(all.body.items).toEqual([
      { name: 'a_idle', state: 'idle', processing: false, exporting: false, locked: false },
      { name: 'b_busy', state: 'processing', processing: true, exporting: false, locked: false },
      { name: 'c_both', state: 'processing', processing: true, exporting: true, locked: false },
      { name: 'd_failed', state: 'error', processing: false, exporting: false, locked: false },
      { name: 'e_locked', state: 'locked', processing: true, exporting: false, locked: true },
      { name: 'f_retried', state: 'idle', processing: false, exporting: false, locked: false },
    ])

    const detail = await call('GET', '/be/v1/apps/d_failed', { headers: org.headers })
    expect(detail.body.app.error).toContain('ran out of luck')
    const lockedDetail = await call('GET', '/be/v1/apps/e_locked', { headers: org.headers })
    expect(lockedDetail.body.app.error).toContain('origin said 403')

    const processing = await call('GET', '/be/v1/apps?state=processing&fields[]=name', {
      headers: org.headers,
    })
    expect(processing.body).toMatchObject({
      total: 2,
      items: [{ name: 'b_busy' }, { name: 'c_both' }],
    })
  })

  it('shows ready builds, their total size, patches and the current image', async () => {
    const org = await newOrg('apps')
    const app = await newApp(org)
    await insertBuild({ ...app, buildId: 1, sizeBytes: 100 })
    await insertBuild({ ...app, buildId: 2, sizeBytes: 250, current: true })
    await insertBuild({ ...app, buildId: 3, state: 'importing', sizeBytes: 999 })
    await insertPatch(app.orgId, app.appId, 2, 1, patternBytes(40))

    const answer = await call('GET', `/be/v1/apps/${app.name}`, { headers: org.headers })
    expect(answer.body.app).toMatchObject({
      iCurBuild: 2,
      dxfName: 'dxf-0002-01',
      sizeBytes: 350,
      builds: [
        { buildId: 1, buildName: 'build-0001', sizeBytes: 100, files: 3 },
        { buildId: 2, buildName: 'build-0002', sizeBytes: 250, files: 3 },
      ],
      patches: [{ fromBuildId: 1, toBuildId: 2, sizeBytes: 40 }],
    })
    const some = await call('GET', `/be/v1/apps/${app.name}?fields[]=iCurBuild&fields[]=dxfName`, {
      headers: org.headers,
    })
    expect(some.body.app).toEqual({ iCurBuild: 2, dxfName: 'dxf-0002-01' })
  })

  it("never shows another org's app", async () => {
    const org = await newOrg('apps')
    const other = await newOrg('apps')
    const app = await newApp(other)
    expect((await call('GET', `/be/v1/apps/${app.name}`, { headers: org.headers })).status).toBe(
      404,
    )
    expect((await call('GET', '/be/v1/apps', { headers: org.headers })).body.total).toBe(0)
    const patch = await call('PATCH', '/be/v1/apps', {
      headers: org.headers,
      body: { name: app.name, label: 'mine now' },
    })
    expect(patch.status).toBe(404)
    const remove = await call('DELETE', `/be/v1/apps/${app.name}`, { headers: org.headers })
    expect(remove.status).toBe(404)
    expect((await call('GET', `/be/v1/apps/${app.name}`, { headers: other.headers })).status).toBe(
      200,
    )
  })
})

describe('PATCH /be/v1/apps', () => {
  it('changes label, maxBuilds and deployments ([] and null mean all)', async () => {
    const org = await newOrg('apps')
    await insertDeployment(org.orgName, 'cdn_eu')
    const app = await newApp(org)
    const answer = await call('PATCH', '/be/v1/apps', {
      headers: org.headers,
      body: { name: app.name, label: 'Renamed', maxBuilds: 7, deployments: ['cdn_eu'] },
    })
    expect(answer.status).toBe(200)
    expect(answer.body).toMatchObject({ status: 'success', message: 'app modified' })
    expect(answer.body.app).toMatchObject({
      label: 'Renamed',
      maxBuilds: 7,
      deployments: ['cdn_eu'],
    })
    expect(answer.body.traceKey).toBeUndefined()

    const cleared = await call('PATCH', '/be/v1/apps', {
      headers: org.headers,
      body: { name: app.name, deployments: null },
    })
    expect(cleared.body.app.deployments).toEqual([])

    for (const [body, field] of [
      [{ name: app.name, deployments: ['nowhere'] }, 'deployments'],
      [{ name: app.name, maxBuilds: 0 }, 'maxBuilds'],
      [{ name: app.name, blockSize: 4096 }, 'blockSize'],
      [{ name: app.name, label: null }, 'label'],
    ] as const) {
      const bad = await call('PATCH', '/be/v1/apps', { headers: org.headers, body })
      expect(bad.status).toBe(400)
      expect(bad.body.details.map((d: { field: string }) => d.field)).toContain(field)
    }
    const missing = await call('PATCH', '/be/v1/apps', {
      headers: org.headers,
      body: { name: 'no_such_app', label: 'x' },
    })
    expect(missing.status).toBe(404)

    const reader = await userWithPermissions(org.orgName, { apps: 2 })
    const refused = await call('PATCH', '/be/v1/apps', {
      headers: reader,
      body: { name: app.name, label: 'x' },
    })
    expect(refused.status).toBe(403)
    expect(refused.body.details).toEqual([{ permission: 'apps.update' }])
  })

  it('rotates the trace key: the old one stops working, the new one works', async () => {
    const org = await newOrg('apps')
    const app = await newApp(org)
    const path = `/client/v1/apps/${org.orgName}/${app.name}`
    // No build yet: a good key gets 404 (no current build), a bad one 401.
    const before = await call('GET', path, {
      headers: clientHeaders(org.orgName, app.name, app.traceKey),
    })
    expect(before.status).toBe(404)

    const rotated = await call('PATCH', '/be/v1/apps', {
      headers: org.headers,
      body: { name: app.name, rotateTraceKey: true },
    })
    expect(rotated.status).toBe(200)
    expect(rotated.body.traceKey).toMatch(/^rkt_/)
    expect(rotated.body.traceKey).not.toBe(app.traceKey)

    const old = await call('GET', path, {
      headers: clientHeaders(org.orgName, app.name, app.traceKey),
    })
    expect(old.status).toBe(401)
    const fresh = await call('GET', path, {
      headers: clientHeaders(org.orgName, app.name, rotated.body.traceKey),
    })
    expect(fresh.status).toBe(404)
  })

  it('evicts the oldest builds, their images and patches when maxBuilds goes down', async () => {
    const org = await newOrg('apps')
    const app = await newApp(org)
    for (const buildId of [1, 2, 3]) {
      await insertBuild({ ...app, buildId, current: buildId === 3 })
      const keys = buildKeys(app.orgId, app.appId, buildId)
      await env.BUCKET.put(keys.tar, 'tar')
      await env.BUCKET.put(keys.blocks, 'blocks')
      await putImage(app.orgId, app.appId, `dxf-000${buildId}-01`, patternBytes(64))
    }
    await putImage(app.orgId, app.appId, 'dxf-0001-02', patternBytes(64))
    const p21 = await insertPatch(app.orgId, app.appId, 2, 1, patternBytes(8))
    const p31 = await insertPatch(app.orgId, app.appId, 3, 1, patternBytes(8))
    const p32 = await insertPatch(app.orgId, app.appId, 3, 2, patternBytes(8))

    const answer = await call('PATCH', '/be/v1/apps', {
      headers: org.headers,
      body: { name: app.name, maxBuilds: 2 },
    })
    expect(answer.status).toBe(200)
    expect(answer.body.app.builds.map((b: { buildId: number }) => b.buildId)).toEqual([2, 3])
    expect(answer.body.app.patches).toEqual([{ fromBuildId: 2, toBuildId: 3, sizeBytes: 8 }])

    expect(await keysUnder(buildKeys(app.orgId, app.appId, 1).prefix)).toEqual([])
    expect(await keysUnder(imageKeys(app.orgId, app.appId, 'dxf-0001-01').prefix)).toEqual([])
    expect(await keysUnder(imageKeys(app.orgId, app.appId, 'dxf-0001-02').prefix)).toEqual([])
    expect(await env.BUCKET.head(p21)).toBeNull()
    expect(await env.BUCKET.head(p31)).toBeNull()
    expect(await env.BUCKET.head(p32)).not.toBeNull()
    expect(await keysUnder(buildKeys(app.orgId, app.appId, 2).prefix)).toHaveLength(2)
    expect(await keysUnder(imageKeys(app.orgId, app.appId, 'dxf-0002-01').prefix)).toHaveLength(2)

    const row = await dbOf(env)
      .select({ state: builds.state })
      .from(builds)
      .where(and(eq(builds.appId, app.appId), eq(builds.buildId, 1)))
      .get()
    expect(row?.state).toBe('deleted')

    const one = await call('PATCH', '/be/v1/apps', {
      headers: org.headers,
      body: { name: app.name, maxBuilds: 1 },
    })
    expect(one.body.app).toMatchObject({ iCurBuild: 3, sizeBytes: 3000, patches: [] })
    expect(one.body.app.builds.map((b: { buildId: number }) => b.buildId)).toEqual([3])
  })

  it("retires an evicted build's published files on the origins, deleted a day later", async () => {
    const org = await newOrg('apps')
    const prefix = uniquePrefix('evict')
    await createDeployment(org.headers, s3Deployment('cdn', prefix))
    const app = await newApp(org)
    for (const buildId of [1, 2, 3]) {
      await insertBuild({ ...app, buildId, current: buildId === 3 })
      await putImage(app.orgId, app.appId, `dxf-000${buildId}-01`, patternBytes(64))
    }
    await putImage(app.orgId, app.appId, 'dxf-0001-02', patternBytes(64))
    await insertPatch(app.orgId, app.appId, 2, 1, patternBytes(8))
    await insertPatch(app.orgId, app.appId, 3, 2, patternBytes(8))
    // What earlier publishes left on the origin.
    const dir = `${prefix}/dxf/${org.orgName}/${app.name}`
    const pat = `${prefix}/pat/${org.orgName}/${app.name}`
    const evicted = [
      `${dir}/0001/dxf-0001-01/image.dxf`,
      `${dir}/0001/dxf-0001-01/profile.json`,
      `${dir}/0001/dxf-0001-02/image.dxf`,
      `${dir}/0001/dxf-0001-02/profile.json`,
      `${pat}/0002/0001/patch.dxf`,
    ].sort()
    const kept = [
      `${dir}/0003/dxf-0003-01/image.dxf`,
      `${dir}/0003/dxf-0003-01/profile.json`,
      `${pat}/0003/0002/patch.dxf`,
    ]
    const s3 = s3Reader()
    for (const key of [...evicted, ...kept]) {
      expect((await s3.put(key, new TextEncoder().encode(key))).status).toBe(200)
    }

    const before = Date.now()
    const answer = await call('PATCH', '/be/v1/apps', {
      headers: org.headers,
      body: { name: app.name, maxBuilds: 2 },
    })
    expect(answer.status).toBe(200)
    expect(answer.body.app.builds.map((b: { buildId: number }) => b.buildId)).toEqual([2, 3])

    // Launchers may still be reading them: nothing is deleted at once.
    expect(await s3.list(`${prefix}/`)).toEqual([...evicted, ...kept].sort())
    const deployment = await dbOf(env)
      .select({ id: deployments.id })
      .from(deployments)
      .where(and(eq(deployments.orgId, app.orgId), eq(deployments.name, 'cdn')))
      .get()
    const rows = await dbOf(env)
      .select()
      .from(retiredFiles)
      .where(eq(retiredFiles.deploymentId, deployment!.id))
      .all()
    expect(rows.map((row) => row.key).sort()).toEqual(evicted)
    for (const row of rows) {
      const due = Date.parse(row.deleteAfter) - before
      expect(due).toBeGreaterThanOrEqual(24 * 3600 * 1000 - 1000)
      expect(due).toBeLessThan(24 * 3600 * 1000 + 60_000)
    }

    await runCron(env, new Date(Date.now() + 25 * 3600 * 1000))
    expect(await s3.list(`${prefix}/`)).toEqual([...kept].sort())
  })
})

describe('DELETE /be/v1/apps/{appName}', () => {
  it('deletes the app, its rows and its objects, and frees the name', async () => {
    const org = await newOrg('apps')
    const app = await newApp(org)
    await insertBuild({ ...app, buildId: 1, current: true })
    await putImage(app.orgId, app.appId, 'dxf-0001-01', patternBytes(100))
    await env.BUCKET.put(`${appPrefix(app.orgId, app.appId)}traces/t1/raw.ndjson`, '{}')
    const neighbour = await newApp(org)
    await putImage(neighbour.orgId, neighbour.appId, 'dxf-0001-01', patternBytes(10))

    const reader = await userWithPermissions(org.orgName, { apps: 7 })
    const refused = await call('DELETE', `/be/v1/apps/${app.name}`, { headers: reader })
    expect(refused.status).toBe(403)
    expect(refused.body.details).toEqual([{ permission: 'apps.delete' }])

    const answer = await call('DELETE', `/be/v1/apps/${app.name}`, { headers: org.headers })
    expect(answer.status).toBe(200)
    expect(answer.body).toEqual({ status: 'success', message: 'app deleted' })
    expect(await keysUnder(appPrefix(app.orgId, app.appId))).toEqual([])
    expect(await keysUnder(appPrefix(neighbour.orgId, neighbour.appId))).toHaveLength(2)
    const orphans = await dbOf(env).select().from(builds).where(eq(builds.appId, app.appId)).all()
    expect(orphans).toEqual([])

    expect((await call('GET', `/be/v1/apps/${app.name}`, { headers: org.headers })).status).toBe(
      404,
    )
    expect((await newApp(org, { name: app.name })).appId).not.toBe(app.appId)
    expect(
      (await call('DELETE', `/be/v1/apps/${app.name}_x`, { headers: org.headers })).status,
    ).toBe(404)
  })

  it('is refused while a task of the app runs, and expires a waiting upload', async () => {
    const org = await newOrg('apps')
    const app = await newApp(org)
    const running = await insertTask({
      orgId: app.orgId,
      appId: app.appId,
      appName: app.name,
      type: 'mkraw',
      state: 'running',
    })
    const busy = await call('DELETE', `/be/v1/apps/${app.name}`, { headers: org.headers })
    expect(busy.status).toBe(409)
    expect(busy.body.message).toContain(running)

    await dbOf(env).update(tasks).set({ state: 'succeeded' }).where(eq(tasks.id, running))
    const waiting = await insertTask({
      orgId: app.orgId,
      appId: app.appId,
      appName: app.name,
      buildName: 'build-0002',
      type: 'dltar',
      state: 'submitted',
    })
    await dbOf(env)
      .insert(uploads)
      .values({ hash: `h_${waiting}`, taskId: waiting, expires: '2999-01-01T00:00:00.000Z' })

    const answer = await call('DELETE', `/be/v1/apps/${app.name}`, { headers: org.headers })
    expect(answer.status).toBe(200)
    const task = await dbOf(env).select().from(tasks).where(eq(tasks.id, waiting)).get()
    expect(task?.state).toBe('expired')
    const upload = await dbOf(env).select().from(uploads).where(eq(uploads.taskId, waiting)).get()
    expect(upload?.used).toBe(true)
  })

  it('purges a prefix in bounded batches and says when objects remain', async () => {
    const prefix = 'orgs/purge-test/apps/a1/'
    for (let i = 0; i < 25; i++) await env.BUCKET.put(`${prefix}obj-${i}`, 'x')
    await env.BUCKET.put('orgs/purge-test/apps/a10/keep', 'x')

    expect(await purgePrefix(env.BUCKET, prefix, 10)).toEqual({ deleted: 10, more: true })
    expect(await purgePrefix(env.BUCKET, prefix, 100)).toEqual({ deleted: 15, more: false })
    expect(await keysUnder(prefix)).toEqual([])
    expect(await keysUnder('orgs/purge-test/apps/a10/')).toEqual(['orgs/purge-test/apps/a10/keep'])
    await expect(purgePrefix(env.BUCKET, 'other/', 1)).rejects.toThrow()
  })

  it('erases what remains of an app in bounded prune steps', async () => {
    const prefix = appPrefix('org-erase', 'app-erase')
    for (let i = 0; i < 3; i++) await env.BUCKET.put(`${prefix}traces/t${i}/raw.ndjson`, 'x')
    const task = { params: { scope: 'app', orgId: 'org-erase', appId: 'app-erase' }, cursor: null }
    const ctx = { env, task, log: createLogger('error'), warn: async () => {} }

    const first = await eraseAppStep(ctx as unknown as StepContext)
    expect(first).toEqual({ kind: 'continue', cursor: { objectsDeleted: 3 }, progress: 0.5 })
    const second = await eraseAppStep({
      ...ctx,
      task: { ...task, cursor: (first as { cursor: Record<string, unknown> }).cursor },
    } as unknown as StepContext)
    expect(second).toEqual({ kind: 'done', result: { objectsDeleted: 3, originFilesDeleted: 0 } })
    expect(await keysUnder(prefix)).toEqual([])
  })

  it('keeps patch rows of other apps', async () => {
    const org = await newOrg('apps')
    const app = await newApp(org)
    const other = await newApp(org)
    await insertPatch(other.orgId, other.appId, 2, 1, patternBytes(4))
    await call('DELETE', `/be/v1/apps/${app.name}`, { headers: org.headers })
    const rows = await dbOf(env).select().from(patches).where(eq(patches.appId, other.appId)).all()
    expect(rows).toHaveLength(1)
  })
})

describe('DELETE /be/v1/apps/{appName} on origins', () => {
  it("removes what the app published on every deployment, and nothing of others'", async () => {
    const org = await newOrg('apps')
    const prefix = uniquePrefix('appdel')
    await createDeployment(org.headers, s3Deployment('cdn', prefix))
    await createDeployment(org.headers, {
      name: 'own',
      originPrefix: 'games',
      origin: { type: 'r2', bucket: prefix },
    })
    const app = await newApp(org)
    await insertBuild({ ...app, buildId: 1, current: true })
    await putImage(app.orgId, app.appId, 'dxf-0001-01', patternBytes(100))

    const s3 = s3Reader()
    const ours = [
      `${prefix}/dxf/${org.orgName}/${app.name}/0001/dxf-0001-01/image.dxf`,
      `${prefix}/dxf/${org.orgName}/${app.name}/0001/dxf-0001-01/profile.json`,
      `${prefix}/pat/${org.orgName}/${app.name}/0002/0001/patch.dxf`,
    ]
    const theirs = [
      // A neighbour whose name starts with this app's name, and this name in another org.
      `${prefix}/dxf/${org.orgName}/${app.name}x/0001/dxf-0001-01/image.dxf`,
      `${prefix}/dxf/other_org/${app.name}/0001/dxf-0001-01/image.dxf`,
    ]
    for (const key of [...ours, ...theirs]) {
      expect((await s3.put(key, new TextEncoder().encode(key))).status).toBe(200)
    }
    const r2Root = `origins/${prefix}/games`
    const r2Ours = `${r2Root}/dxf/${org.orgName}/${app.name}/0001/dxf-0001-01/image.dxf`
    const r2Theirs = `${r2Root}/dxf/${org.orgName}/${app.name}x/0001/dxf-0001-01/image.dxf`
    await env.BUCKET.put(r2Ours, 'x')
    await env.BUCKET.put(r2Theirs, 'x')

    const answer = await call('DELETE', `/be/v1/apps/${app.name}`, { headers: org.headers })
    expect(answer.status).toBe(200)
    expect(answer.body).toMatchObject({ status: 'success', message: 'app deleted' })
    expect(answer.body.taskName).toMatch(/^prune_/)
    const task = await waitForTask(answer.body.taskName)
    expect(task).toMatchObject({ type: 'prune', state: 'succeeded', appName: app.name })
    expect(task.result).toMatchObject({ originFilesDeleted: 4 })

    expect(await s3.list(`${prefix}/`)).toEqual([...theirs].sort())
    expect(await keysUnder(`${r2Root}/`)).toEqual([r2Theirs])
  }, 60_000)

  it('fails naming the deployment when an origin refuses; fixed and retried, it finishes', async () => {
    const org = await newOrg('apps')
    const prefix = uniquePrefix('appdel')
    await createDeployment(
      org.headers,
      s3Deployment('cdn', prefix, { secretAccessKey: 'not-the-secret' }),
    )
    const app = await newApp(org)
    const key = `${prefix}/dxf/${org.orgName}/${app.name}/0001/dxf-0001-01/image.dxf`
    const s3 = s3Reader()
    expect((await s3.put(key, new TextEncoder().encode(key))).status).toBe(200)

    const answer = await call('DELETE', `/be/v1/apps/${app.name}`, { headers: org.headers })
    expect(answer.status).toBe(200)
    const failed = await waitForTask(answer.body.taskName)
    expect(failed.state).toBe('failed')
    expect(failed.exception).toMatchObject({ code: 'originDenied', deployment: 'cdn' })
    expect(await s3.list(`${prefix}/`)).toEqual([key])

    const fixed = await call('PATCH', '/be/v1/deployments', {
      headers: org.headers,
      body: {
        name: 'cdn',
        origin: { secretAccessKey: s3Deployment('x', 'y').origin.secretAccessKey },
      },
    })
    expect(fixed.status).toBe(200)
    const retried = await call('POST', '/be/v1/trigger', {
      headers: org.headers,
      body: { type: 'retryTask', taskName: failed.taskName },
    })
    expect(retried.status).toBe(202)
    expect((await waitForTask(failed.taskName)).state).toBe('succeeded')
    expect(await s3.list(`${prefix}/`)).toEqual([])
  }, 60_000)

  it('leaves the build directories of a new app that took the name', async () => {
    const org = await newOrg('apps')
    const prefix = uniquePrefix('appdel')
    await createDeployment(org.headers, s3Deployment('cdn', prefix))
    const app = await newApp(org)
    const dir = `${prefix}/dxf/${org.orgName}/${app.name}`
    const pat = `${prefix}/pat/${org.orgName}/${app.name}`
    const old = [`${dir}/0001/dxf-0001-01/image.dxf`, `${pat}/0001/0000/patch.dxf`]
    const renewed = [`${dir}/0002/dxf-0002-01/image.dxf`, `${pat}/0002/0001/patch.dxf`]
    const s3 = s3Reader()
    for (const key of [...old, ...renewed]) {
      expect((await s3.put(key, new TextEncoder().encode(key))).status).toBe(200)
    }
    // The app is gone and a new one of the same name has build 2 by the time the prune runs.
    await dbOf(env).delete(apps).where(eq(apps.id, app.appId))
    const successor = await newApp(org, { name: app.name })
    await insertBuild({ ...successor, buildId: 2 })

    const params = {
      scope: 'app',
      orgId: app.orgId,
      appId: app.appId,
      orgName: org.orgName,
      appName: app.name,
    }
    let task = { params, cursor: null as Record<string, unknown> | null }
    const ctx = () =>
      ({ env, task, log: createLogger('error'), warn: async () => {} }) as unknown as StepContext
    let result: Record<string, unknown> | undefined
    for (let step = 0; step < 20 && !result; step++) {
      const outcome = await eraseAppStep(ctx())
      if (outcome.kind === 'done') result = outcome.result
      else task = { ...task, cursor: outcome.cursor }
    }
    expect(result).toEqual({ objectsDeleted: 0, originFilesDeleted: 2 })
    expect(await s3.list(`${prefix}/`)).toEqual([...renewed].sort())
  })
})
