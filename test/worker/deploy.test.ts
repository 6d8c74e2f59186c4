/**
 * The `deploy` task end to end against real origins on loopback (origins-global-setup.ts): an
 * image and patches written where mkraw leaves them are published to S3 (through a proxy that
 * verifies SigV4), NetStorage (signatures verified) and the instance's R2 at the exact origin
 * layout; failures (a `TaskFailure` or a step given up in the dead-letter queue) lock the app and
 * mark the deployment; a fixed deployment and a retry recover; replaced files are deleted by the
 * cron when due; launchers get the published image's CDN URLs, signed per `downloadAuth`.
 */

import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { createHash, createHmac } from 'node:crypto'
import { and, eq } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { runCron } from '../../src/cron'
import { dbOf } from '../../src/db/client'
import { apps, deployments, retiredFiles, tasks } from '../../src/db/schema'
import worker from '../../src/index'
import type { TaskMessage } from '../../src/tasks/messages'
import { submitTask } from '../../src/tasks/service'
import { insertBuild } from './app-fixtures'
import { newOrg, type OrgFixture } from './fixtures'
import { adminHeaders, call, waitForTask } from './helpers'
import {
  type AppFixture,
  bytesOf,
  createDeployment,
  type ImageFixture,
  insertApp,
  orgIdOf,
  origins,
  putImage,
  s3Deployment,
  s3Reader,
  uniquePrefix,
} from './origin-fixtures'

const MiB = 1024 * 1024

interface World {
  org: OrgFixture
  app: AppFixture
  prefix: string
}

async function world(deployments: string[] | null = null): Promise<World> {
  const org = await newOrg('pub')
  const app = await insertApp(await orgIdOf(org.orgName), 'myGame', deployments)
  return { org, app, prefix: uniquePrefix('pub') }
}

function deploy(w: World, image: ImageFixture, params: Record<string, unknown> = {}) {
  return submitTask(env, {
    type: 'deploy',
    orgId: w.app.orgId,
    appId: w.app.id,
    appName: w.app.name,
    buildName: `build-${String(image.buildId).padStart(4, '0')}`,
    params: { appId: w.app.id, buildId: image.buildId, dxfName: image.dxfName, ...params },
  })
}

/** The public layout of API.md under a prefix. */
function layout(w: World, image: ImageFixture, prefix = w.prefix) {
  const build = String(image.buildId).padStart(4, '0')
  const dir = `${prefix}/dxf/${w.org.orgName}/${w.app.name}/${build}/${image.dxfName}`
  return {
    image: `${dir}/image.dxf`,
    profile: `${dir}/profile.json`,
    patches: image.patches.map(
      (p) =>
        `${prefix}/pat/${w.org.orgName}/${w.app.name}/${build}/${String(p.fromBuildId).padStart(4, '0')}/patch.dxf`,
    ),
  }
}

async function readDeployment(w: World, name: string) {
  const answer = await call('GET', `/be/v1/deployments/${name}`, { headers: w.org.headers })
  expect(answer.status).toBe(200)
  return answer.body.deployment
}

/** The task as the API shows it now (running or not). */
async function taskNow(taskName: string) {
  const answer = await call('GET', `/adm/v1/tasks/${taskName}`, { headers: await adminHeaders() })
  expect(answer.status).toBe(200)
  return answer.body.task
}

async function appRow(w: World) {
  return (await dbOf(env).select().from(apps).where(eq(apps.id, w.app.id)).get())!
}

async function bytesAt(response: Response): Promise<Uint8Array> {
  return new Uint8Array(await response.arrayBuffer())
}

describe('publishing to an S3 origin', () => {
  it('writes the exact origin layout, readable with ranged GETs', async () => {
    const w = await world()
    await createDeployment(w.org.headers, s3Deployment('cdn', w.prefix))
    const image = await putImage(w.app, 3, 300_000, [1, 2])

    const task = await waitForTask(await deploy(w, image))
    expect(task).toMatchObject({ type: 'deploy', state: 'succeeded', progress: 1 })
    expect(task.result).toMatchObject({
      buildId: 3,
      dxfName: image.dxfName,
      deployments: ['cdn'],
      files: 4,
    })

    const s3 = s3Reader()
    const paths = layout(w, image)
    expect(await s3.list(`${w.prefix}/`)).toEqual(
      [paths.image, paths.profile, ...paths.patches].sort(),
    )

    const ranged = await s3.get(paths.image, 'bytes=1000-1999')
    expect(ranged.status).toBe(206)
    expect(await bytesAt(ranged)).toEqual(image.image.subarray(1000, 2000))
    const profile = await s3.get(paths.profile)
    expect(await bytesAt(profile)).toEqual(image.profile)
    expect(profile.headers.get('content-type')).toBe('application/json')
    for (const [i, patch] of image.patches.entries()) {
      expect(await bytesAt(await s3.get(paths.patches[i]))).toEqual(patch.bytes)
    }

    const deployment = await readDeployment(w, 'cdn')
    expect(deployment).toMatchObject({ status: 'ok', rangeVerified: true })
    expect(deployment.message).toContain(image.dxfName)
    expect((await appRow(w)).locked).toBe(false)
  }, 60_000)

  it('sends a large image as a multipart upload, part by part', async () => {
    const w = await world()
    await createDeployment(w.org.headers, s3Deployment('cdn', w.prefix))
    const image = await putImage(w.app, 1, 11 * MiB + 12_345)

    const task = await waitForTask(await deploy(w, image, { partSizeBytes: 5 * MiB }), 60_000)
    expect(task.state, JSON.stringify(task.exception)).toBe('succeeded')

    const s3 = s3Reader()
    const key = layout(w, image).image
    const log = await (
      await fetch(`${origins().s3}/__log?path=${encodeURIComponent(`/${origins().bucket}/${key}`)}`)
    ).json()
    const writes = (log as { method: string; query: string; contentLength: number | null }[])
      .filter((entry) => entry.method !== 'GET' && entry.method !== 'HEAD')
      .map((entry) => ({
        method: entry.method,
        query: entry.query.replace(/uploadId=[^&]+/, 'uploadId=ID'),
        contentLength: entry.method === 'PUT' ? entry.contentLength : undefined,
      }))
    expect(writes).toEqual([
      { method: 'POST', query: '?uploads', contentLength: undefined },
      { method: 'PUT', query: '?partNumber=1&uploadId=ID', contentLength: 5 * MiB },
      { method: 'PUT', query: '?partNumber=2&uploadId=ID', contentLength: 5 * MiB },
      { method: 'PUT', query: '?partNumber=3&uploadId=ID', contentLength: MiB + 12_345 },
      { method: 'POST', query: '?uploadId=ID', contentLength: undefined },
    ])

    const head = await s3.head(key)
    expect(Number(head.headers.get('content-length'))).toBe(image.image.length)
    for (const offset of [5 * MiB - 10, 10 * MiB - 10, image.image.length - 100]) {
      const part = await s3.get(key, `bytes=${offset}-${offset + 99}`)
      expect(part.status, await part.clone().text()).toBe(206)
      expect(await bytesAt(part)).toEqual(image.image.subarray(offset, offset + 100))
    }
  }, 120_000)

  it('publishes only to the deployments the app lists', async () => {
    const w = await world(['listed'])
    const other = uniquePrefix('other')
    await createDeployment(w.org.headers, s3Deployment('listed', w.prefix))
    await createDeployment(w.org.headers, s3Deployment('unlisted', other))
    const image = await putImage(w.app, 1, 5000)

    const task = await waitForTask(await deploy(w, image))
    expect(task.result.deployments).toEqual(['listed'])
    expect(await s3Reader().list(`${other}/`)).toEqual([])
    expect((await readDeployment(w, 'unlisted')).status).toBe('unknown')
  }, 60_000)
})

describe('one publish at a time per app', () => {
  it('a second deploy of the app waits until the first has finished', async () => {
    const w = await world()
    await createDeployment(w.org.headers, s3Deployment('cdn', w.prefix))
    const image = await putImage(w.app, 1, 11 * MiB)
    const first = await deploy(w, image, { partSizeBytes: 5 * MiB })
    const second = await deploy(w, image)

    let waited = false
    for (let i = 0; i < 200; i++) {
      const row = (await dbOf(env).select().from(tasks).where(eq(tasks.id, second)).get())!
      const cursor = row.cursor ? JSON.parse(row.cursor) : null
      if (cursor?.phase === 'queued' && cursor.waitingFor === first) waited = true
      if (!['submitted', 'running'].includes(row.state)) break
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    const [a, b] = [await waitForTask(first, 60_000), await waitForTask(second, 60_000)]
    expect(waited).toBe(true)
    expect([a.state, b.state]).toEqual(['succeeded', 'succeeded'])
    expect(b.ended > a.ended).toBe(true)
  }, 120_000)
})

describe('a failed publish and its recovery', () => {
  it('wrong secret: fails, marks the deployment, locks the app; fixed and retried, it recovers', async () => {
    const w = await world()
    await createDeployment(
      w.org.headers,
      s3Deployment('cdn', w.prefix, { secretAccessKey: 'not-the-secret' }),
    )
    const image = await putImage(w.app, 1, 20_000, [])

    const failed = await waitForTask(await deploy(w, image))
    expect(failed.state).toBe('failed')
    expect(failed.exception).toMatchObject({
      code: 'originDenied',
      httpStatus: 403,
      deployment: 'cdn',
    })
    expect(failed.exception.message).toContain('SignatureDoesNotMatch')
    const broken = await readDeployment(w, 'cdn')
    expect(broken.status).toBe('error')
    expect(broken.message).toBe(failed.exception.message)
    expect((await appRow(w)).locked).toBe(true)
    expect(await s3Reader().list(`${w.prefix}/`)).toEqual([])

    // No new publish while the app is locked.
    const blocked = await waitForTask(await deploy(w, image))
    expect(blocked.state).toBe('failed')
    expect(blocked.exception.code).toBe('appLocked')

    const fixed = await call('PATCH', '/be/v1/deployments', {
      headers: w.org.headers,
      body: { name: 'cdn', origin: { secretAccessKey: origins().secretAccessKey } },
    })
    expect(fixed.status).toBe(200)

    const retried = await call('POST', '/be/v1/trigger', {
      headers: w.org.headers,
      body: { type: 'retryTask', taskName: failed.taskName },
    })
    expect(retried.status).toBe(202)
    const recovered = await waitForTask(failed.taskName)
    expect(recovered.state, JSON.stringify(recovered.exception)).toBe('succeeded')

    const paths = layout(w, image)
    expect(await s3Reader().list(`${w.prefix}/`)).toEqual([paths.image, paths.profile])
    expect(await readDeployment(w, 'cdn')).toMatchObject({ status: 'ok', rangeVerified: true })
    expect((await appRow(w)).locked).toBe(false)

    // Unlocked: a new publish goes through again.
    expect((await waitForTask(await deploy(w, image))).state).toBe('succeeded')
  }, 60_000)

  it('a retry publishes the current image when a newer build arrived meanwhile', async () => {
    const w = await world()
    await createDeployment(
      w.org.headers,
      s3Deployment('cdn', w.prefix, { secretAccessKey: 'not-the-secret' }),
    )
    const first = await putImage(w.app, 1, 2000)
    const failed = await waitForTask(await deploy(w, first))
    expect(failed.exception.code).toBe('originDenied')

    const second = await putImage(w.app, 2, 3000, [1])
    await call('PATCH', '/be/v1/deployments', {
      headers: w.org.headers,
      body: { name: 'cdn', origin: { secretAccessKey: origins().secretAccessKey } },
    })
    await call('POST', '/be/v1/trigger', {
      headers: w.org.headers,
      body: { type: 'retryTask', taskName: failed.taskName },
    })
    const recovered = await waitForTask(failed.taskName)
    expect(recovered.state).toBe('succeeded')
    expect(recovered.result).toMatchObject({ buildId: 2, dxfName: second.dxfName })
    const paths = layout(w, second)
    expect(await s3Reader().list(`${w.prefix}/`)).toEqual(
      [paths.image, paths.profile, ...paths.patches].sort(),
    )
  }, 60_000)

  it('an origin without Range support fails the publish with originNoRange', async () => {
    const w = await world()
    await createDeployment(
      w.org.headers,
      s3Deployment('norange', w.prefix, { endpoint: origins().s3NoRange }),
    )
    const image = await putImage(w.app, 1, 10_000)

    const failed = await waitForTask(await deploy(w, image))
    expect(failed.state).toBe('failed')
    expect(failed.exception).toMatchObject({
      code: 'originNoRange',
      deployment: 'norange',
      httpStatus: 200,
    })
    expect(await readDeployment(w, 'norange')).toMatchObject({
      status: 'error',
      rangeVerified: false,
    })
    expect((await appRow(w)).locked).toBe(true)
  }, 60_000)

  it('an unreachable origin fails the publish with originUnreachable', async () => {
    const w = await world()
    await createDeployment(
      w.org.headers,
      s3Deployment('gone', w.prefix, { endpoint: origins().closed }),
    )
    const image = await putImage(w.app, 1, 1000)

    const failed = await waitForTask(await deploy(w, image))
    expect(failed.state).toBe('failed')
    expect(failed.exception).toMatchObject({ code: 'originUnreachable', deployment: 'gone' })
    expect(failed.exception.httpStatus).toBeUndefined()
    expect((await readDeployment(w, 'gone')).status).toBe('error')
  }, 60_000)
})

describe('publishing to NetStorage and R2', () => {
  async function received(prefix: string) {
    const url = `${origins().netstorage}/__files?prefix=${encodeURIComponent(prefix)}`
    return (await (await fetch(url)).json()) as { path: string; size: number; sha256: string }[]
  }

  async function sha256(bytes: Uint8Array) {
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))
    return [...digest].map((b) => b.toString(16).padStart(2, '0')).join('')
  }

  it('uploads to NetStorage with signatures the receiver verifies', async () => {
    const w = await world()
    const o = origins()
    await createDeployment(w.org.headers, {
      name: 'akamai',
      originPrefix: w.prefix,
      origin: {
        type: 'netstorage',
        host: o.netstorage,
        keyName: o.keyName,
        key: o.key,
        cpCode: o.cpCode,
      },
    })
    const image = await putImage(w.app, 2, 50_000, [1])

    const task = await waitForTask(await deploy(w, image))
    expect(task.state, JSON.stringify(task.exception)).toBe('succeeded')

    const paths = layout(w, image)
    const files = await received(`/${o.cpCode}/${w.prefix}/`)
    expect(files).toEqual(
      [
        {
          path: `/${o.cpCode}/${paths.image}`,
          size: image.image.length,
          sha256: await sha256(image.image),
        },
        {
          path: `/${o.cpCode}/${paths.profile}`,
          size: image.profile.length,
          sha256: await sha256(image.profile),
        },
        {
          path: `/${o.cpCode}/${paths.patches[0]}`,
          size: image.patches[0].bytes.length,
          sha256: await sha256(image.patches[0].bytes),
        },
      ].map((f) => expect.objectContaining(f)),
    )
    expect(await readDeployment(w, 'akamai')).toMatchObject({ status: 'ok', rangeVerified: true })
  }, 60_000)

  it('a wrong NetStorage key is refused by the receiver: originDenied', async () => {
    const w = await world()
    const o = origins()
    await createDeployment(w.org.headers, {
      name: 'akamai',
      originPrefix: w.prefix,
      origin: {
        type: 'netstorage',
        host: o.netstorage,
        keyName: o.keyName,
        key: 'wrong',
        cpCode: o.cpCode,
      },
    })
    const image = await putImage(w.app, 1, 1000)
    const failed = await waitForTask(await deploy(w, image))
    expect(failed.exception).toMatchObject({
      code: 'originDenied',
      httpStatus: 403,
      deployment: 'akamai',
    })
    expect(await received(`/${o.cpCode}/${w.prefix}/`)).toEqual([])
  }, 60_000)

  it("publishes into the instance's R2 under origins/<bucket>/", async () => {
    const w = await world()
    await createDeployment(w.org.headers, {
      name: 'own',
      originPrefix: w.prefix,
      origin: { type: 'r2' },
    })
    // Large enough for a multipart upload through the binding (parts of 5 MiB).
    const image = await putImage(w.app, 1, 11 * MiB, [])

    const task = await waitForTask(await deploy(w, image, { partSizeBytes: 5 * MiB }), 60_000)
    expect(task.state, JSON.stringify(task.exception)).toBe('succeeded')
    const paths = layout(w, image)
    const stored = await env.BUCKET.get(`origins/r2/${paths.image}`)
    const bytes = new Uint8Array(await stored!.arrayBuffer())
    expect(bytes.length).toBe(image.image.length)
    expect(await sha256(bytes)).toBe(await sha256(image.image))
    expect((await env.BUCKET.get(`origins/r2/${paths.profile}`))?.httpMetadata?.contentType).toBe(
      'application/json',
    )
  }, 120_000)
})

describe('replaced files', () => {
  it('retires the previous image on a new publish and the cron deletes it when due', async () => {
    const w = await world()
    await createDeployment(w.org.headers, s3Deployment('cdn', w.prefix))
    const first = await putImage(w.app, 1, 4000)
    expect((await waitForTask(await deploy(w, first))).state).toBe('succeeded')
    const second = await putImage(w.app, 2, 5000, [1])
    const before = Date.now()
    expect((await waitForTask(await deploy(w, second))).state).toBe('succeeded')

    const old = layout(w, first)
    const current = layout(w, second)
    const rows = await dbOf(env)
      .select()
      .from(retiredFiles)
      .where(eq(retiredFiles.orgId, w.app.orgId))
      .all()
    expect(rows.map((r) => r.key).sort()).toEqual([old.image, old.profile].sort())
    for (const row of rows) {
      const due = Date.parse(row.deleteAfter) - before
      expect(due).toBeGreaterThanOrEqual(24 * 3600 * 1000 - 1000)
      expect(due).toBeLessThan(24 * 3600 * 1000 + 60_000)
    }

    const s3 = s3Reader()
    const all = [old.image, old.profile, current.image, current.profile, ...current.patches].sort()
    await runCron(env, new Date())
    expect(await s3.list(`${w.prefix}/`)).toEqual(all)

    await runCron(env, new Date(Date.now() + 25 * 3600 * 1000))
    expect(await s3.list(`${w.prefix}/`)).toEqual(
      [current.image, current.profile, ...current.patches].sort(),
    )
    const left = await dbOf(env)
      .select()
      .from(retiredFiles)
      .where(eq(retiredFiles.orgId, w.app.orgId))
      .all()
    expect(left).toEqual([])
  }, 60_000)

  it('a file published again is taken back from retirement', async () => {
    const w = await world()
    await createDeployment(w.org.headers, s3Deployment('cdn', w.prefix))
    const first = await putImage(w.app, 1, 3000)
    expect((await waitForTask(await deploy(w, first))).state).toBe('succeeded')
    const second = await putImage(w.app, 2, 3000)
    expect((await waitForTask(await deploy(w, second))).state).toBe('succeeded')
    // Back to build 1 (its files are live again), then the cron runs a day later.
    await putImage(w.app, 1, 3000)
    expect((await waitForTask(await deploy(w, first))).state).toBe('succeeded')
    await runCron(env, new Date(Date.now() + 25 * 3600 * 1000))

    const s3 = s3Reader()
    const live = layout(w, first)
    expect(await s3.list(`${w.prefix}/`)).toEqual([live.image, live.profile].sort())
    expect(await bytesAt(await s3.get(live.image))).toEqual(bytesOf(3000, 1))
  }, 60_000)
})

describe('a deploy that dies in the dead-letter queue', () => {
  async function deadLetter(body: TaskMessage, id: string) {
    const batch = createMessageBatch<TaskMessage>('rockit-tasks-dlq', [
      { id, timestamp: new Date(), attempts: 6, body },
    ])
    const ctx = createExecutionContext()
    await worker.queue(batch, env)
    return getQueueResult(batch, ctx)
  }

  it('fails like a failed publish: the deployment is marked and the app locked', async () => {
    const w = await world()
    await createDeployment(w.org.headers, s3Deployment('cdn', w.prefix))
    const image = await putImage(w.app, 1, 2000)
    const deployment = (await dbOf(env)
      .select()
      .from(deployments)
      .where(and(eq(deployments.orgId, w.app.orgId), eq(deployments.name, 'cdn')))
      .get())!
    // A deploy in the middle of publishing to cdn, whose step the queue gave up on.
    const taskName = await submitTask(env, {
      type: 'deploy',
      orgId: w.app.orgId,
      appId: w.app.id,
      appName: w.app.name,
      params: { appId: w.app.id, buildId: 1, dxfName: image.dxfName },
      start: false,
    })
    const cursor = {
      phase: 'publish',
      plan: {
        orgName: w.org.orgName,
        appName: w.app.name,
        buildId: 1,
        dxfName: image.dxfName,
        deploymentIds: [deployment.id],
        files: [],
        bytes: 0,
      },
      d: 0,
      f: 1,
      bytesDone: 0,
      published: [],
    }
    await dbOf(env)
      .update(tasks)
      .set({ state: 'running', seq: 2, cursor: JSON.stringify(cursor) })
      .where(eq(tasks.id, taskName))

    // A stale letter (an older step) changes nothing.
    const stale = await deadLetter({ taskName, seq: 1 }, 'stale')
    expect(stale.explicitAcks).toEqual(['stale'])
    expect((await taskNow(taskName)).state).toBe('running')
    expect((await appRow(w)).locked).toBe(false)

    const dead = await deadLetter({ taskName, seq: 2 }, 'dead')
    expect(dead.explicitAcks).toEqual(['dead'])
    const failed = await taskNow(taskName)
    expect(failed.state).toBe('failed')
    expect(failed.exception.code).toBe('internal')
    expect(await readDeployment(w, 'cdn')).toMatchObject({
      status: 'error',
      message: failed.exception.message,
    })
    expect((await appRow(w)).locked).toBe(true)
    const blocked = await waitForTask(await deploy(w, image))
    expect(blocked.exception.code).toBe('appLocked')
  }, 60_000)
})

describe('download URLs for launchers', () => {
  const headersOf = (orgName: string, appName: string, traceKey: string) => ({
    'x-rockit-orgname': orgName,
    'x-rockit-appname': appName,
    'x-rockit-trace-key': traceKey,
  })

  it("lists the image on each CDN that holds it, signed per the deployment's downloadAuth", async () => {
    const org = await newOrg('cdn')
    const prefix = uniquePrefix('cdn')
    const created = await call('POST', '/be/v1/apps', {
      headers: org.headers,
      body: { name: 'myGame', label: 'My game' },
    })
    expect(created.status).toBe(201)
    const orgId = await orgIdOf(org.orgName)
    const row = (await dbOf(env)
      .select()
      .from(apps)
      .where(and(eq(apps.orgId, orgId), eq(apps.name, 'myGame')))
      .get())!
    const w: World = { org, app: { id: row.id, name: row.name, orgId }, prefix }

    const r2 = (bucket: string) => ({ type: 'r2', bucket })
    await createDeployment(org.headers, {
      name: 'a_plain',
      originPrefix: prefix,
      origin: r2(prefix),
      publicUrl: 'https://cdn-a.example.com',
    })
    await createDeployment(org.headers, {
      name: 'b_akamai',
      originPrefix: '',
      origin: r2(`${prefix}-b`),
      publicUrl: 'https://cdn-b.example.com/edge/',
      downloadAuth: { type: 'akamai', key: 'a1b2c3d4e5f60718', ttlSec: 600 },
    })
    await createDeployment(org.headers, {
      name: 'c_gcore',
      originPrefix: `${prefix}/c`,
      origin: r2(prefix),
      publicUrl: 'http://cdn-c.example.com:8080',
      downloadAuth: { type: 'gcore', key: 'gcore-secret', ttlSec: 120 },
    })
    await createDeployment(org.headers, {
      name: 'd_hidden',
      originPrefix: `${prefix}/d`,
      origin: r2(prefix),
    })
    const image = await putImage(w.app, 1, 4000)
    await insertBuild({ orgId, appId: row.id, buildId: 1 })

    const path = `/client/v1/apps/${org.orgName}/myGame`
    const headers = headersOf(org.orgName, 'myGame', created.body.traceKey)
    const before = await call('GET', path, { headers })
    expect(before.status).toBe(200)
    expect(before.body.origins).toEqual([])

    const task = await waitForTask(await deploy(w, image))
    expect(task.result.deployments).toEqual(['a_plain', 'b_akamai', 'c_gcore', 'd_hidden'])
    // Not published to: not listed.
    await createDeployment(org.headers, {
      name: 'e_late',
      originPrefix: prefix,
      origin: r2(prefix),
      publicUrl: 'https://cdn-e.example.com',
    })

    const asked = Math.floor(Date.now() / 1000)
    const answer = await call('GET', path, { headers })
    const answered = Math.floor(Date.now() / 1000)
    expect(answer.status).toBe(200)
    const file = `dxf/${org.orgName}/myGame/0001/${image.dxfName}/image.dxf`
    const [plain, akamai, gcore, ...rest] = answer.body.origins as string[]
    expect(rest).toEqual([])
    expect(plain).toBe(`https://cdn-a.example.com/${prefix}/${file}`)

    const a = new URL(akamai)
    expect(a.origin + a.pathname).toBe(`https://cdn-b.example.com/edge/${file}`)
    const token = a.search.replace(/^\?hdnts=/, '')
    const [exp, acl, hmac] = token.split('~')
    const expires = Number(exp.replace('exp=', ''))
    expect(expires).toBeGreaterThanOrEqual(asked + 600)
    expect(expires).toBeLessThanOrEqual(answered + 600)
    expect(acl).toBe(`acl=/edge/dxf/${org.orgName}/myGame/0001/${image.dxfName}/*`)
    const mac = createHmac('sha256', Buffer.from('a1b2c3d4e5f60718', 'hex'))
      .update(`${exp}~${acl}`)
      .digest('hex')
    expect(hmac).toBe(`hmac=${mac}`)

    const g = new URL(gcore)
    expect(g.origin + g.pathname).toBe(`http://cdn-c.example.com:8080/${prefix}/c/${file}`)
    const gExpires = Number(g.searchParams.get('expires'))
    expect(gExpires).toBeGreaterThanOrEqual(asked + 120)
    expect(gExpires).toBeLessThanOrEqual(answered + 120)
    const md5 = createHash('md5')
      .update(`${gExpires}${g.pathname} gcore-secret`)
      .digest('base64url')
    expect(g.searchParams.get('md5')).toBe(md5)

    // Only the deployments the app lists.
    const listed = await call('PATCH', '/be/v1/apps', {
      headers: org.headers,
      body: { name: 'myGame', deployments: ['c_gcore', 'd_hidden'] },
    })
    expect(listed.status).toBe(200)
    const narrowed = await call('GET', path, { headers })
    expect(narrowed.body.origins).toHaveLength(1)
    expect(narrowed.body.origins[0]).toMatch(/^http:\/\/cdn-c\.example\.com:8080\//)
  }, 60_000)
})
