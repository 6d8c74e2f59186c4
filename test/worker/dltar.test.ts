import { env } from 'cloudflare:workers'
import { eq } from 'drizzle-orm'
import { describe, expect, inject, it } from 'vitest'
import { dbOf } from '../../src/db/client'
import { tasks } from '../../src/db/schema'
import { createBuild } from '../../src/domain/builds/create-build'
import { buildKeys } from '../../src/storage/keys'
import { startTask } from '../../src/tasks/service'
import {
  type BuildApp,
  buildApp,
  buildRow,
  expectImageHolds,
  objectBytes,
  postBuild,
  putTar,
} from './build-fixtures'
import { newOrg } from './fixtures'
import { waitForTask } from './helpers'
import { makeTar, servedTars, smallBuildEntries } from './tar-fixture'

const server = inject('buildServer')
const tars = servedTars()

/** What the tar server saw since `from` (its request log). */
async function serverLog(): Promise<string[]> {
  return (await fetch(`${server}/log`)).json()
}

/**
 * A download with test-only params (small steps, a short timeout): made through the real
 * create path, then its dltar task is given the params and started.
 */
async function download(app: BuildApp, url: string, params: Record<string, unknown>) {
  const created = await createBuild(env, app.orgId, { appName: app.name }, 'http://edge.test')
  const task = await dbOf(env).select().from(tasks).where(eq(tasks.id, created.taskName)).get()
  const merged = { ...JSON.parse(task!.params), url, ...params }
  await dbOf(env)
    .update(tasks)
    .set({ params: JSON.stringify(merged) })
    .where(eq(tasks.id, created.taskName))
  await startTask(env, created.taskName)
  return {
    taskName: created.taskName,
    buildId: created.build.buildId,
    uploadUrl: created.uploadUrl,
  }
}

describe('dltar: a build downloaded from a URL', () => {
  it('downloads with ranged GETs, then mkraw makes the build current', async () => {
    const org = await newOrg('dltar')
    const app = await buildApp(org)
    const tar = tars['small.tar']
    const created = await postBuild(app, { url: `${server}/tars/small.tar`, size: tar.length })
    expect(created.status).toBe(202)
    expect(created.body).toMatchObject({ build: { buildId: 1, state: 'pending' } })
    expect(created.body.uploadUrl).toBeUndefined()

    const dltar = await waitForTask(created.body.taskName)
    expect(dltar).toMatchObject({
      type: 'dltar',
      state: 'succeeded',
      result: { sizeBytes: tar.length },
    })
    const mkraw = await waitForTask(dltar.result.mkrawTaskName)
    expect(mkraw.state).toBe('succeeded')
    expect(await objectBytes(buildKeys(app.orgId, app.appId, 1).tar)).toEqual(tar)
    expect(await buildRow(app, 1)).toMatchObject({ state: 'ready', dxfName: 'dxf-0001-01' })
    // One step asks for up to 64 MiB: eight parts of 8 MiB (the part size for the announced size).
    expect(await serverLog()).toContain(`/tars/small.tar bytes=0-${64 * 1024 * 1024 - 1}`)
  })

  it('resumes a large download part by part across steps', async () => {
    const org = await newOrg('dltar')
    const app = await buildApp(org)
    const tar = tars['large.tar']
    // With the size announced, parts are 8 MiB; a step of 1 byte still moves one part.
    const { taskName } = await download(app, `${server}/tars/large.tar`, {
      stepBytes: 1,
      size: tar.length,
    })
    const task = await waitForTask(taskName, 60_000)
    expect(task).toMatchObject({ state: 'succeeded', result: { sizeBytes: tar.length } })
    const stored = await objectBytes(buildKeys(app.orgId, app.appId, 1).tar)
    expect(stored?.length).toBe(tar.length)
    expect(Buffer.from(stored!).equals(Buffer.from(tar))).toBe(true)
    const part = 8 * 1024 * 1024
    const log = (await serverLog()).filter((line) => line.startsWith('/tars/large.tar'))
    expect(log).toEqual([
      `/tars/large.tar bytes=0-${part - 1}`,
      `/tars/large.tar bytes=${part}-${tar.length - 1}`,
    ])
    expect((await waitForTask(task.result.mkrawTaskName, 60_000)).state).toBe('succeeded')
  })

  it('copes with a server that ignores Range, and follows a redirect', async () => {
    const org = await newOrg('dltar')
    const app = await buildApp(org)
    const plain = await download(app, `${server}/plain/large.tar`, { stepBytes: 1 })
    expect(await waitForTask(plain.taskName, 60_000)).toMatchObject({
      state: 'succeeded',
      result: { sizeBytes: tars['large.tar'].length },
    })
    const stored = await objectBytes(buildKeys(app.orgId, app.appId, 1).tar)
    expect(Buffer.from(stored!).equals(Buffer.from(tars['large.tar']))).toBe(true)

    const moved = await postBuild(app, { url: `${server}/redirect/small.tar` })
    const task = await waitForTask(moved.body.taskName)
    expect(task).toMatchObject({
      state: 'succeeded',
      result: { sizeBytes: tars['small.tar'].length },
    })
    const mkraw = await waitForTask(task.result.mkrawTaskName)
    expect(mkraw.state).toBe('succeeded')
    await expectImageHolds(
      `orgs/${app.orgId}/apps/${app.appId}/images/${mkraw.result.dxfName}/image.dxf`,
      smallBuildEntries(1),
    )
  })

  it('fails with httpStatus on a 404 and leaves the app usable', async () => {
    const org = await newOrg('dltar')
    const app = await buildApp(org)
    const missing = await postBuild(app, { url: `${server}/nothing/here.tar` })
    const task = await waitForTask(missing.body.taskName)
    expect(task).toMatchObject({
      state: 'failed',
      exception: { code: 'downloadFailed', httpStatus: 404 },
    })
    expect(await buildRow(app, 1)).toMatchObject({ state: 'failed' })
    expect(await objectBytes(buildKeys(app.orgId, app.appId, 1).tar)).toBeNull()

    const next = await postBuild(app)
    const put = await putTar(next.body.uploadUrl, makeTar(smallBuildEntries(2)))
    expect((await waitForTask(put.body.taskName)).state).toBe('succeeded')
    expect(await buildRow(app, 2)).toMatchObject({ state: 'ready' })
  })

  it('fails with exitCode on a refused connection, a timeout and a dropped connection', async () => {
    const org = await newOrg('dltar')
    const app = await buildApp(org)
    const refused = await download(app, 'http://127.0.0.1:1/build.tar', {})
    expect(await waitForTask(refused.taskName)).toMatchObject({
      state: 'failed',
      exception: { code: 'downloadFailed', exitCode: 7 },
    })
    const hang = await download(app, `${server}/hang`, { timeoutMs: 500 })
    expect(await waitForTask(hang.taskName)).toMatchObject({
      state: 'failed',
      exception: { code: 'downloadFailed', exitCode: 28 },
    })
    const dropped = await download(app, `${server}/drop/large.tar`, {})
    const failed = await waitForTask(dropped.taskName)
    expect(failed).toMatchObject({ state: 'failed', exception: { code: 'downloadFailed' } })
    expect(failed.exception.exitCode).toBe(56)
    for (const buildId of [1, 2, 3]) expect((await buildRow(app, buildId))?.state).toBe('failed')
  })

  it('fails with sizeBytesActual and sizeBytesExpected when the size differs', async () => {
    const org = await newOrg('dltar')
    const app = await buildApp(org)
    const tar = tars['small.tar']
    const wrong = await postBuild(app, { url: `${server}/tars/small.tar`, size: tar.length - 512 })
    expect(await waitForTask(wrong.body.taskName)).toMatchObject({
      state: 'failed',
      exception: {
        code: 'sizeMismatch',
        sizeBytesActual: tar.length,
        sizeBytesExpected: tar.length - 512,
      },
    })
    expect(await buildRow(app, 1)).toMatchObject({ state: 'failed' })
  })
})
