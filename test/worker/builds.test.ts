import { env } from 'cloudflare:workers'
import { eq } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { dbOf } from '../../src/db/client'
import { uploads } from '../../src/db/schema'
import { sha256Hex } from '../../src/domain/auth/secrets'
import { expireStaleUploads } from '../../src/domain/builds/expire-uploads'
import { buildKeys, imageKeys } from '../../src/storage/keys'
import { BodyLengthError, storeBody } from '../../src/storage/store-body'
import { userWithPermissions } from './app-fixtures'
import {
  buildApp,
  buildRow,
  expectImageHolds,
  objectBytes,
  postBuild,
  putTar,
  sha256Of,
  tasksOf,
  uploadBuild,
} from './build-fixtures'
import { newOrg } from './fixtures'
import { adminHeaders, call, waitForTask } from './helpers'
import { makeTar, seededBytes, smallBuildEntries } from './tar-fixture'

const taskOf = async (taskName: string) =>
  (await call('GET', `/adm/v1/tasks/${taskName}`, { headers: await adminHeaders() })).body.task

/** A body the runtime cannot size up front, so the request goes without Content-Length. */
function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(bytes)
      controller.close()
    },
  })
}

describe('POST /be/v1/builds, then PUT to the upload URL', () => {
  it('imports an uploaded tar end to end: task chain, current build, image and profile', async () => {
    const org = await newOrg('builds')
    const app = await buildApp(org)
    const entries = smallBuildEntries(3)
    const tar = makeTar(entries)

    const created = await postBuild(app)
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({
      status: 'success',
      build: { buildId: 1, buildName: 'build-0001', appName: app.name, state: 'pending' },
    })
    expect(created.body.uploadUrl).toMatch(/^http:\/\/edge\.test\/upload\/rku_[A-Za-z0-9_-]{43}$/)
    expect(Date.parse(created.body.expires)).toBeGreaterThan(Date.now() + 3_600_000)
    const dltar = created.body.taskName
    expect(await taskOf(dltar)).toMatchObject({ type: 'dltar', state: 'submitted' })

    const put = await putTar(created.body.uploadUrl, tar)
    expect(put.status).toBe(202)
    expect(put.body).toMatchObject({
      status: 'success',
      taskName: expect.stringMatching(/^mkraw_/),
    })
    expect(await taskOf(dltar)).toMatchObject({
      state: 'succeeded',
      result: { sizeBytes: tar.length, mkrawTaskName: put.body.taskName },
    })
    expect(await objectBytes(buildKeys(app.orgId, app.appId, 1).tar)).toEqual(tar)

    const mkraw = await waitForTask(put.body.taskName)
    expect(mkraw).toMatchObject({ type: 'mkraw', state: 'succeeded', progress: 1 })
    const fileBytes = 150_000 + 70_000 + 10 + 19
    expect(mkraw.result).toMatchObject({
      buildId: 1,
      dxfName: 'dxf-0001-01',
      files: 5,
      sizeBytes: fileBytes,
      blocks: 3 + 2 + 1 + 1,
      patches: [],
      current: true,
      evicted: [],
    })

    const shown = await call('GET', `/be/v1/apps/${app.name}`, { headers: org.headers })
    expect(shown.body.app).toMatchObject({
      iCurBuild: 1,
      dxfName: 'dxf-0001-01',
      builds: [{ buildId: 1, buildName: 'build-0001', sizeBytes: fileBytes, files: 5 }],
    })
    expect(await buildRow(app, 1)).toMatchObject({ state: 'ready', dxfName: 'dxf-0001-01' })

    const keys = imageKeys(app.orgId, app.appId, 'dxf-0001-01')
    const header = await expectImageHolds(keys.image, entries)
    expect(header.order).toEqual(Uint32Array.from({ length: 7 }, (_, i) => i))
    const image = (await objectBytes(keys.image)) as Uint8Array
    expect(image.length).toBe(header.headerLength + fileBytes)
    expect(mkraw.result.image).toEqual({
      dxfName: 'dxf-0001-01',
      sizeBytes: image.length,
      sha256: await sha256Of(image),
    })
    const stored = await env.BUCKET.head(keys.image)
    expect(stored?.customMetadata?.sha256).toBe(await sha256Of(image))
    const profile = await env.BUCKET.get(keys.profile)
    expect(await profile?.json()).toEqual({ format: 'rockit-profile/1', bandwidths: [] })

    const [deploy] = await tasksOf(app.appId, 'deploy')
    expect(deploy.id).toBe(mkraw.result.deployTaskName)
    expect(JSON.parse(deploy.params)).toEqual({
      appId: app.appId,
      buildId: 1,
      dxfName: 'dxf-0001-01',
    })
  })

  it('numbers builds per app, takes a buildName, and refuses a duplicate with 409', async () => {
    const org = await newOrg('builds')
    const app = await buildApp(org)
    const other = await buildApp(org)
    const first = await postBuild(app, { buildName: 'v1.0.2' })
    expect(first.status).toBe(201)
    expect(first.body.build).toMatchObject({ buildId: 1, buildName: 'v1.0.2' })
    const second = await postBuild(app)
    expect(second.body.build).toMatchObject({ buildId: 2, buildName: 'build-0002' })
    expect((await postBuild(other)).body.build).toMatchObject({ buildId: 1 })

    const again = await postBuild(app, { buildName: 'v1.0.2' })
    expect(again.status).toBe(409)
    expect(again.body).toMatchObject({ status: 'error', code: 'conflict' })
    // A refused create does not take a number.
    expect((await postBuild(app)).body.build.buildId).toBe(3)
  })

  it('frees the name of a failed build but never reuses its number', async () => {
    const org = await newOrg('builds')
    const app = await buildApp(org)
    const created = await postBuild(app, { buildName: 'nightly' })
    await call('PATCH', '/be/v1/tasks', {
      headers: org.headers,
      body: { taskName: created.body.taskName, expire: true },
    })
    expect((await buildRow(app, 1))?.state).toBe('failed')
    const retry = await postBuild(app, { buildName: 'nightly' })
    expect(retry.status).toBe(201)
    expect(retry.body.build).toMatchObject({ buildId: 2, buildName: 'nightly' })
    expect((await buildRow(app, 1))?.buildName).toBe('nightly~0001')
  })

  it('refuses bad input with 400, unknown apps with 404, oversize with 413', async () => {
    const org = await newOrg('builds')
    const app = await buildApp(org)
    const cases: [Record<string, unknown>, string][] = [
      [{ url: 'ftp://example.com/build.tar' }, 'url'],
      [{ url: 'not a url' }, 'url'],
      [{ url: 'http://user:secret@example.com/b.tar' }, 'url'],
      [{ url: 'http://edge.test/upload/x' }, 'url'],
      [{ buildName: '../etc' }, 'buildName'],
      [{ size: -1 }, 'size'],
      [{ size: 0 }, 'size'],
      [{ size: 1023 }, 'size'],
      [{ colour: 'red' }, 'colour'],
    ]
    for (const [body, field] of cases) {
      const answer = await postBuild(app, body)
      expect(answer.status, JSON.stringify(body)).toBe(400)
      expect(answer.body.details.map((d: { field: string }) => d.field)).toContain(field)
    }
    const unknown = await call('POST', '/be/v1/builds', {
      headers: org.headers,
      body: { appName: 'no_such_app' },
    })
    expect(unknown.status).toBe(404)
    const huge = await postBuild(app, { url: 'https://example.com/b.tar', size: 2 ** 50 })
    expect(huge.status).toBe(413)
    expect(huge.body.code).toBe('tooLarge')
    expect(huge.body.details).toEqual([{ field: 'size', reason: expect.stringMatching(/limit/) }])
    expect(await buildRow(app, 1)).toBeUndefined()
  })

  it('needs apps update (403 apps.update) and a credential (401)', async () => {
    const org = await newOrg('builds')
    const app = await buildApp(org)
    const reader = await userWithPermissions(org.orgName, { apps: 2 + 1 + 8, tasks: 31 })
    const refused = await call('POST', '/be/v1/builds', {
      headers: reader,
      body: { appName: app.name },
    })
    expect(refused.status).toBe(403)
    expect(refused.body.details).toEqual([{ permission: 'apps.update' }])
    const updater = await userWithPermissions(org.orgName, { apps: 4 })
    const allowed = await call('POST', '/be/v1/builds', {
      headers: updater,
      body: { appName: app.name },
    })
    expect(allowed.status).toBe(201)
    const anonymous = await call('POST', '/be/v1/builds', { body: { appName: app.name } })
    expect(anonymous.status).toBe(401)
  })

  it('documents both endpoints in the OpenAPI document', async () => {
    const doc = await call('GET', '/openapi.json')
    expect(doc.body.paths['/be/v1/builds'].post.responses).toHaveProperty('201')
    expect(doc.body.paths['/upload/{token}'].put.requestBody.content).toHaveProperty(
      'application/x-tar',
    )
  })

  it('keeps builds of other orgs apart (404)', async () => {
    const org = await newOrg('builds')
    const app = await buildApp(org)
    const stranger = await newOrg('builds')
    const answer = await call('POST', '/be/v1/builds', {
      headers: stranger.headers,
      body: { appName: app.name },
    })
    expect(answer.status).toBe(404)
  })
})

describe('PUT /upload/<token>', () => {
  it('refuses 415, 411 and 413 without using the URL up', async () => {
    const org = await newOrg('upload')
    const app = await buildApp(org)
    const created = await postBuild(app)
    const url = created.body.uploadUrl as string
    const tar = makeTar(smallBuildEntries(1))

    const noType = await putTar(url, tar, {})
    expect(noType.status).toBe(415)
    expect(noType.body.code).toBe('unsupportedMediaType')
    const gzip = await putTar(url, tar, { 'content-type': 'application/gzip' })
    expect(gzip.status).toBe(415)

    const chunked = await putTar(url, streamOf(tar))
    expect(chunked.status).toBe(411)
    expect(chunked.body.code).toBe('lengthRequired')

    const huge = await putTar(url, streamOf(new Uint8Array(16)), {
      'content-type': 'application/x-tar',
      'content-length': String(2 ** 40),
    })
    expect(huge.status).toBe(413)

    expect(await taskOf(created.body.taskName)).toMatchObject({ state: 'submitted' })
    const good = await putTar(url, tar)
    expect(good.status).toBe(202)
    expect((await waitForTask(good.body.taskName)).state).toBe('succeeded')
  })

  it('refuses an empty body with 400 naming Content-Length, without using the URL up', async () => {
    const org = await newOrg('upload')
    const app = await buildApp(org)
    const created = await postBuild(app)
    const url = created.body.uploadUrl as string

    const empty = await putTar(url, new Uint8Array(0), {
      'content-type': 'application/x-tar',
      'content-length': '0',
    })
    expect(empty.status).toBe(400)
    expect(empty.body.details).toEqual([
      { field: 'Content-Length', reason: expect.stringContaining('empty') },
    ])
    // No body at all: no Content-Length either here, which is the 411.
    const none = await putTar(url, null)
    expect(none.status).toBe(411)

    expect(await taskOf(created.body.taskName)).toMatchObject({ state: 'submitted' })
    expect(await buildRow(app, 1)).toMatchObject({ state: 'pending' })
    const good = await putTar(url, makeTar(smallBuildEntries(1)))
    expect(good.status).toBe(202)
    expect((await waitForTask(good.body.taskName)).state).toBe('succeeded')
  }, 30_000)

  it('answers 410 to a second PUT, and to one after the task or the URL expired', async () => {
    const org = await newOrg('upload')
    const app = await buildApp(org)
    const tar = makeTar(smallBuildEntries(2))
    const { created, mkraw } = await uploadBuild(app, tar)
    const second = await putTar(created.body.uploadUrl, tar)
    expect(second.status).toBe(410)
    expect(second.body.code).toBe('gone')
    await waitForTask(mkraw)

    const expiring = await postBuild(app)
    const expired = await call('PATCH', '/be/v1/tasks', {
      headers: org.headers,
      body: { taskName: expiring.body.taskName, expire: true },
    })
    expect(expired.status).toBe(200)
    expect((await putTar(expiring.body.uploadUrl, tar)).status).toBe(410)

    const late = await postBuild(app)
    const token = (late.body.uploadUrl as string).split('/').pop() as string
    await dbOf(env)
      .update(uploads)
      .set({ expires: '2020-01-01T00:00:00.000Z' })
      .where(eq(uploads.hash, await sha256Hex(token)))
    const afterExpiry = await putTar(late.body.uploadUrl, tar)
    expect(afterExpiry.status).toBe(410)
    expect(afterExpiry.body.message).toContain('expired')
    expect(await taskOf(late.body.taskName)).toMatchObject({ state: 'submitted' })

    const unknown = await putTar(`http://edge.test/upload/rku_${'x'.repeat(43)}`, tar)
    expect(unknown.status).toBe(404)
    // The app still has build 1 only.
    expect((await buildRow(app, 1))?.state).toBe('ready')
  })

  it('expires the task of a URL that expired unused (the cron job)', async () => {
    const org = await newOrg('upload')
    const app = await buildApp(org)
    const stale = await postBuild(app)
    const fresh = await postBuild(app)
    const token = (stale.body.uploadUrl as string).split('/').pop() as string
    await dbOf(env)
      .update(uploads)
      .set({ expires: '2020-01-01T00:00:00.000Z' })
      .where(eq(uploads.hash, await sha256Hex(token)))
    expect(await expireStaleUploads(env)).toBeGreaterThanOrEqual(1)
    expect(await taskOf(stale.body.taskName)).toMatchObject({ state: 'expired' })
    expect(await buildRow(app, 1)).toMatchObject({ state: 'failed' })
    expect(await taskOf(fresh.body.taskName)).toMatchObject({ state: 'submitted' })
    expect(await buildRow(app, 2)).toMatchObject({ state: 'pending' })
    expect((await putTar(stale.body.uploadUrl, makeTar(smallBuildEntries(1)))).status).toBe(410)
  })

  it('lets exactly one of two concurrent PUTs win', async () => {
    const org = await newOrg('upload')
    const app = await buildApp(org)
    const created = await postBuild(app)
    const tar = makeTar(smallBuildEntries(4))
    const answers = await Promise.all([
      putTar(created.body.uploadUrl, tar),
      putTar(created.body.uploadUrl, tar),
    ])
    expect(answers.map((a) => a.status).sort()).toEqual([202, 410])
    const winner = answers.find((a) => a.status === 202)!
    expect((await waitForTask(winner.body.taskName)).state).toBe('succeeded')
    expect(await tasksOf(app.appId, 'mkraw')).toHaveLength(1)
  })

  it('refuses a Content-Length that differs from the announced size (400, URL kept)', async () => {
    const org = await newOrg('upload')
    const app = await buildApp(org)
    const tar = makeTar(smallBuildEntries(5))
    const created = await postBuild(app, { size: tar.length + 1 })
    const wrong = await putTar(created.body.uploadUrl, tar)
    expect(wrong.status).toBe(400)
    expect(wrong.body.details[0].field).toBe('Content-Length')
    const created2 = await postBuild(app, { size: tar.length })
    expect((await putTar(created2.body.uploadUrl, tar)).status).toBe(202)
  })

  it('fails the build with 400 when the body is shorter than its Content-Length', async () => {
    const org = await newOrg('upload')
    const app = await buildApp(org)
    const created = await postBuild(app)
    const short = await putTar(created.body.uploadUrl, streamOf(new Uint8Array(1000)), {
      'content-type': 'application/x-tar',
      'content-length': '4096',
    })
    expect(short.status).toBe(400)
    expect(await taskOf(created.body.taskName)).toMatchObject({
      state: 'failed',
      exception: { code: 'uploadFailed' },
    })
    expect((await buildRow(app, 1))?.state).toBe('failed')
    expect(await objectBytes(buildKeys(app.orgId, app.appId, 1).tar)).toBeNull()
    // The URL is used up: the client creates a new build.
    expect((await putTar(created.body.uploadUrl, makeTar(smallBuildEntries(1)))).status).toBe(410)
  })
})

describe('storing a streamed body in R2', () => {
  /** A stream of `bytes` in chunks of awkward sizes, as a network delivers them. */
  function chunked(bytes: Uint8Array): ReadableStream<Uint8Array> {
    let at = 0
    return new ReadableStream({
      pull(controller) {
        if (at >= bytes.length) return controller.close()
        const size = 1 + ((at * 7919) % 300_000)
        controller.enqueue(bytes.slice(at, at + size))
        at += size
      },
    })
  }

  it('writes a large body as equal multipart parts read from the stream', async () => {
    const bytes = seededBytes(5, 17 * 1024 * 1024 + 3)
    const key = 'orgs/test/store-body/large.bin'
    // Force the multipart path (normally above 100 MiB): 8 MiB parts, three of them.
    await storeBody(env.BUCKET, key, chunked(bytes), bytes.length, {}, 1024 * 1024)
    const stored = await objectBytes(key)
    expect(stored?.length).toBe(bytes.length)
    expect(Buffer.from(stored!).equals(Buffer.from(bytes))).toBe(true)
  })

  it('refuses a body shorter or longer than announced, and stores nothing', async () => {
    const bytes = seededBytes(6, 9 * 1024 * 1024)
    for (const [threshold, announced] of [
      [1024 * 1024, bytes.length + 1],
      [1024 * 1024, bytes.length - 1],
      [100 * 1024 * 1024, bytes.length + 1],
      [100 * 1024 * 1024, bytes.length - 1],
    ]) {
      const key = `orgs/test/store-body/bad-${threshold}-${announced}.bin`
      await expect(
        storeBody(env.BUCKET, key, chunked(bytes), announced, {}, threshold),
      ).rejects.toBeInstanceOf(BodyLengthError)
      expect(await objectBytes(key)).toBeNull()
    }
  })
})
