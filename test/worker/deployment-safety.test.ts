/**
 * Deleting and changing deployments safely: a deletion leaves the files another deployment of
 * the org serves from the same origin location, a deployment being deleted cannot be taken up
 * again by an app, and concurrent PATCHes all land. Against the real S3 origin of
 * `origins-global-setup.ts`.
 */
import { env } from 'cloudflare:workers'
import { eq } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { dbOf } from '../../src/db/client'
import { apps, deployments } from '../../src/db/schema'
import { storedDownloadAuth, storedOrigin } from '../../src/domain/deployments/deployment-store'
import { openDownloadAuth, openOrigin } from '../../src/domain/deployments/secret-box'
import { insertTask } from './app-fixtures'
import { newOrg, type OrgFixture } from './fixtures'
import { call, waitForTask } from './helpers'
import {
  createDeployment,
  insertApp,
  orgIdOf,
  origins,
  s3Deployment,
  s3Reader,
  uniquePrefix,
} from './origin-fixtures'

const KEY = env.EDGE_ENCRYPTION_KEY

/** The three files a publish of build 1 (with a patch from build 0) leaves for `app`. */
function publishedKeys(prefix: string, orgName: string, app: string): string[] {
  return [
    `${prefix}/dxf/${orgName}/${app}/0001/dxf-0001-01/image.dxf`,
    `${prefix}/dxf/${orgName}/${app}/0001/dxf-0001-01/profile.json`,
    `${prefix}/pat/${orgName}/${app}/0001/0000/patch.dxf`,
  ].sort()
}

async function putAll(keys: string[]) {
  const s3 = s3Reader()
  for (const key of keys) {
    expect((await s3.put(key, new TextEncoder().encode(key))).status).toBe(200)
  }
}

const listed = (prefix: string) => s3Reader().list(prefix)

/**
 * A file of another org under `prefix`: a prune never touches it, so a listing that comes back
 * without it failed (the reader does not check the status) rather than found nothing.
 */
const sentinel = (prefix: string) => `${prefix}/dxf/other_org/x/0001/dxf-0001-01/image.dxf`

async function deleteDeployment(org: OrgFixture, name: string) {
  const answer = await call('DELETE', `/be/v1/deployments/${name}`, { headers: org.headers })
  expect(answer.status, JSON.stringify(answer.body)).toBe(202)
  return waitForTask(answer.body.taskName)
}

async function deploymentRow(orgName: string, name: string) {
  const orgId = await orgIdOf(orgName)
  const rows = await dbOf(env).select().from(deployments).where(eq(deployments.orgId, orgId)).all()
  return rows.find((row) => row.name === name)
}

describe('deleting a deployment that shares its origin location', () => {
  it('leaves the files of apps another deployment there serves, and says so', async () => {
    const org = await newOrg('share')
    const orgId = await orgIdOf(org.orgName)
    const prefix = uniquePrefix('share')
    await createDeployment(org.headers, s3Deployment('cdn_a', prefix))
    await createDeployment(org.headers, s3Deployment('cdn_b', `/${prefix}/`))
    await createDeployment(org.headers, s3Deployment('cdn_c', `${prefix}-c`))
    await insertApp(orgId, 'live', ['cdn_b'])
    await insertApp(orgId, 'every', null)
    await insertApp(orgId, 'elsewhere', ['cdn_c'])

    const kept = [
      ...publishedKeys(prefix, org.orgName, 'live'),
      ...publishedKeys(prefix, org.orgName, 'every'),
    ]
    const removed = [
      ...publishedKeys(prefix, org.orgName, 'elsewhere'),
      ...publishedKeys(prefix, org.orgName, 'deleted_app'),
    ]
    const otherOrg = `${prefix}/dxf/other_org/live/0001/dxf-0001-01/image.dxf`
    await putAll([...kept, ...removed, otherOrg])

    const task = await deleteDeployment(org, 'cdn_a')
    expect(task).toMatchObject({ type: 'prune', state: 'succeeded' })
    expect(task.result).toMatchObject({ deployment: 'cdn_a', deleted: removed.length })
    const warning = task.warnings.find((w: { code: string }) => w.code === 'sharedOrigin')
    expect(warning?.message).toContain('cdn_b')
    expect(warning?.message).toContain('every, live')

    expect(await listed(`${prefix}/`)).toEqual([...kept, otherOrg].sort())
    const image = await s3Reader().get(
      `${prefix}/dxf/${org.orgName}/live/0001/dxf-0001-01/image.dxf`,
    )
    expect(image.status).toBe(200)
    expect((await call('GET', '/be/v1/deployments/cdn_a', { headers: org.headers })).status).toBe(
      404,
    )
    expect((await call('GET', '/be/v1/deployments/cdn_b', { headers: org.headers })).status).toBe(
      200,
    )
  })

  it('removes everything of the org when no other deployment shares the location', async () => {
    const org = await newOrg('share')
    const orgId = await orgIdOf(org.orgName)
    const prefix = uniquePrefix('alone')
    await createDeployment(org.headers, s3Deployment('cdn_a', prefix))
    // Same store and bucket under another prefix, and an R2 origin with the same prefix: neither
    // is the same location.
    await createDeployment(org.headers, s3Deployment('cdn_b', `${prefix}/other`))
    await createDeployment(org.headers, {
      name: 'cdn_r2',
      originPrefix: prefix,
      origin: { type: 'r2' },
    })
    await insertApp(orgId, 'live', ['cdn_b'])
    await insertApp(orgId, 'every', null)

    const ours = [
      ...publishedKeys(prefix, org.orgName, 'live'),
      ...publishedKeys(prefix, org.orgName, 'every'),
    ]
    const underOther = publishedKeys(`${prefix}/other`, org.orgName, 'live')
    await putAll([...ours, ...underOther])

    const task = await deleteDeployment(org, 'cdn_a')
    expect(task).toMatchObject({ state: 'succeeded', result: { deleted: ours.length } })
    expect(task.warnings).toEqual([])
    expect(await listed(`${prefix}/`)).toEqual(underOther)
  })

  it('does not count a sharing deployment that is being deleted itself', async () => {
    const org = await newOrg('share')
    const orgId = await orgIdOf(org.orgName)
    const prefix = uniquePrefix('both')
    await createDeployment(org.headers, s3Deployment('cdn_a', prefix))
    await createDeployment(org.headers, s3Deployment('cdn_b', prefix))
    await insertApp(orgId, 'every', null)
    const b = await deploymentRow(org.orgName, 'cdn_b')
    await insertTask({
      orgId,
      type: 'prune',
      state: 'failed',
      params: { scope: 'deployment', deploymentId: b!.id, deployment: 'cdn_b' },
    })
    const files = publishedKeys(prefix, org.orgName, 'every')
    await putAll([...files, sentinel(prefix)])

    const task = await deleteDeployment(org, 'cdn_a')
    expect(task).toMatchObject({ state: 'succeeded', result: { deleted: files.length } })
    expect(await listed(`${prefix}/`)).toEqual([sentinel(prefix)])
  })
})

describe('a deployment being deleted', () => {
  it('cannot be listed by an app, and its removal is finished by a retry', async () => {
    const org = await newOrg('gone')
    const prefix = uniquePrefix('gone')
    await createDeployment(org.headers, s3Deployment('cdn', prefix, { endpoint: origins().closed }))
    await createDeployment(org.headers, s3Deployment('cdn_ok', uniquePrefix('ok')))
    const app = await insertApp(await orgIdOf(org.orgName), 'game', ['cdn_ok'])

    const failed = await deleteDeployment(org, 'cdn')
    expect(failed).toMatchObject({ state: 'failed', exception: { code: 'originUnreachable' } })
    expect(await deploymentRow(org.orgName, 'cdn')).toBeDefined()

    const patched = await call('PATCH', '/be/v1/apps', {
      headers: org.headers,
      body: { name: 'game', deployments: ['cdn_ok', 'cdn'] },
    })
    expect(patched.status).toBe(409)
    expect(patched.body.message).toContain('cdn')
    expect(patched.body.message).toContain('being deleted')
    const created = await call('POST', '/be/v1/apps', {
      headers: org.headers,
      body: { name: 'game2', label: 'Game 2', deployments: ['cdn'] },
    })
    expect(created.status).toBe(409)
    const row = await dbOf(env).select().from(apps).where(eq(apps.id, app.id)).get()
    expect(JSON.parse(row!.deployments!)).toEqual(['cdn_ok'])

    // The origin is fixed (the recovery of a failed removal), then the retry finishes it.
    const fixed = await call('PATCH', '/be/v1/deployments', {
      headers: org.headers,
      body: { name: 'cdn', origin: { endpoint: origins().s3 } },
    })
    expect(fixed.status, JSON.stringify(fixed.body)).toBe(200)
    const files = publishedKeys(prefix, org.orgName, 'old')
    await putAll([...files, sentinel(prefix)])
    const retried = await call('POST', '/be/v1/trigger', {
      headers: org.headers,
      body: { type: 'retryTask', taskName: failed.taskName },
    })
    expect(retried.status).toBe(202)
    expect(await waitForTask(failed.taskName)).toMatchObject({
      state: 'succeeded',
      result: { deleted: files.length },
    })
    expect(await listed(`${prefix}/`)).toEqual([sentinel(prefix)])
    expect(await deploymentRow(org.orgName, 'cdn')).toBeUndefined()
  })

  it('refuses PATCH while its removal is submitted or running', async () => {
    const org = await newOrg('gone')
    const orgId = await orgIdOf(org.orgName)
    await createDeployment(org.headers, s3Deployment('cdn', uniquePrefix('run')))
    const row = await deploymentRow(org.orgName, 'cdn')
    const taskName = await insertTask({
      orgId,
      type: 'prune',
      state: 'running',
      params: { scope: 'deployment', deploymentId: row!.id, deployment: 'cdn' },
    })

    const patched = await call('PATCH', '/be/v1/deployments', {
      headers: org.headers,
      body: { name: 'cdn', label: 'again' },
    })
    expect(patched.status).toBe(409)
    expect(patched.body.message).toContain(taskName)
    expect((await deploymentRow(org.orgName, 'cdn'))!.label).toBeNull()

    const created = await call('POST', '/be/v1/apps', {
      headers: org.headers,
      body: { name: 'game', label: 'Game', deployments: ['cdn'] },
    })
    expect(created.status).toBe(409)
    expect(created.body.message).toContain('cdn')

    const again = await call('DELETE', '/be/v1/deployments/cdn', { headers: org.headers })
    expect(again.body.taskName).toBe(taskName)
  })

  it('fails with stillInUse, deleting nothing, while an app lists it', async () => {
    const org = await newOrg('gone')
    const prefix = uniquePrefix('use')
    await createDeployment(org.headers, s3Deployment('cdn', prefix, { endpoint: origins().closed }))
    const app = await insertApp(await orgIdOf(org.orgName), 'game', null)
    const failed = await deleteDeployment(org, 'cdn')
    expect(failed.state).toBe('failed')

    // What the old race left: an app took the deployment up while its removal waited.
    await dbOf(env).update(apps).set({ deployments: '["cdn"]' }).where(eq(apps.id, app.id))
    const fixed = await call('PATCH', '/be/v1/deployments', {
      headers: org.headers,
      body: { name: 'cdn', origin: { endpoint: origins().s3 } },
    })
    expect(fixed.status).toBe(200)
    const files = publishedKeys(prefix, org.orgName, 'game')
    await putAll([...files, sentinel(prefix)])

    const retry = () =>
      call('POST', '/be/v1/trigger', {
        headers: org.headers,
        body: { type: 'retryTask', taskName: failed.taskName },
      })
    expect((await retry()).status).toBe(202)
    const refused = await waitForTask(failed.taskName)
    expect(refused).toMatchObject({
      state: 'failed',
      exception: { code: 'stillInUse', apps: ['game'] },
    })
    expect(refused.exception.message).toContain('game')
    expect(await listed(`${prefix}/`)).toEqual([...files, sentinel(prefix)].sort())
    expect(await deploymentRow(org.orgName, 'cdn')).toBeDefined()

    await dbOf(env).update(apps).set({ deployments: '[]' }).where(eq(apps.id, app.id))
    expect((await retry()).status).toBe(202)
    expect((await waitForTask(failed.taskName)).state).toBe('succeeded')
    expect(await listed(`${prefix}/`)).toEqual([sentinel(prefix)])
    expect(await deploymentRow(org.orgName, 'cdn')).toBeUndefined()
  })
})

describe('concurrent changes', () => {
  it('keeps every field of concurrent deployment PATCHes', async () => {
    const org = await newOrg('race')
    await createDeployment(org.headers, {
      ...s3Deployment('cdn', uniquePrefix('race')),
      downloadAuth: { type: 'gcore', key: 'first-key', ttlSec: 60 },
    })
    const changes = [
      { origin: { region: 'eu-west-1' } },
      { origin: { accessKeyId: 'SECOND_KEY_ID' } },
      { origin: { secretAccessKey: 'second-secret' } },
      { downloadAuth: { ttlSec: 900 } },
    ]
    const answers = await Promise.all(
      changes.map((change) =>
        call('PATCH', '/be/v1/deployments', {
          headers: org.headers,
          body: { name: 'cdn', ...change },
        }),
      ),
    )
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200])

    const read = await call('GET', '/be/v1/deployments/cdn', { headers: org.headers })
    expect(read.body.deployment.origin).toMatchObject({
      region: 'eu-west-1',
      accessKeyId: 'SECOND_KEY_ID',
    })
    expect(read.body.deployment.downloadAuth).toMatchObject({ type: 'gcore', ttlSec: 900 })
    const row = (await deploymentRow(org.orgName, 'cdn'))!
    expect(await openOrigin(KEY, row.id, storedOrigin(row))).toMatchObject({
      secretAccessKey: 'second-secret',
    })
    const auth = await openDownloadAuth(KEY, row.id, storedDownloadAuth(row)!)
    expect(auth.key).toBe('first-key')
  })

  it('keeps every field of concurrent app PATCHes', async () => {
    const org = await newOrg('race')
    await createDeployment(org.headers, s3Deployment('cdn', uniquePrefix('race')))
    const made = await call('POST', '/be/v1/apps', {
      headers: org.headers,
      body: { name: 'game', label: 'Game' },
    })
    expect(made.status).toBe(201)
    const changes = [{ label: 'Renamed' }, { maxBuilds: 7 }, { deployments: ['cdn'] }]
    const answers = await Promise.all(
      changes.map((change) =>
        call('PATCH', '/be/v1/apps', { headers: org.headers, body: { name: 'game', ...change } }),
      ),
    )
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200])
    const read = await call('GET', '/be/v1/apps/game', { headers: org.headers })
    expect(read.body.app).toMatchObject({ label: 'Renamed', maxBuilds: 7, deployments: ['cdn'] })
  })
})
