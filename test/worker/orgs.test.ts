/**
 * Orgs for the operator (list, detail, delete) and `DELETE /be/v1/orgs/{orgName}`. Deletion runs
 * as a `prune` task against the real local R2 and D1 (and, with `prune=true`, the loopback S3
 * origin): it must leave nothing of the org behind and nothing of another org missing.
 */
import { env } from 'cloudflare:workers'
import { eq } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { dbOf } from '../../src/db/client'
import { apps, builds, orgs, sessions, users } from '../../src/db/schema'
import { makeHuman, makeMachine, makeRole, signIn } from './accounts'
import { newOrg } from './fixtures'
import { adminHeaders, call, waitForTask } from './helpers'
import { createDeployment, s3Deployment, s3Reader, uniquePrefix } from './origin-fixtures'

async function orgIdOf(orgName: string): Promise<string> {
  const row = await dbOf(env).select({ id: orgs.id }).from(orgs).where(eq(orgs.name, orgName)).get()
  if (!row) throw new Error(`no org ${orgName}`)
  return row.id
}

/** An app with builds of the given sizes, written straight into D1. */
async function addApp(orgId: string, sizes: { bytes: number; state: string }[]) {
  const appId = crypto.randomUUID()
  const db = dbOf(env)
  await db.insert(apps).values({
    id: appId,
    orgId,
    name: `app_${appId.slice(0, 6)}`,
    label: 'game',
    traceKeyHash: 'x'.repeat(64),
    training: '{}',
  })
  for (const [i, size] of sizes.entries()) {
    await db.insert(builds).values({
      id: crypto.randomUUID(),
      orgId,
      appId,
      buildId: i + 1,
      buildName: `b${i + 1}`,
      state: size.state,
      sizeBytes: size.bytes,
      blockSize: 65536,
    })
  }
  return appId
}

async function putObjects(prefix: string, count: number) {
  for (let start = 0; start < count; start += 100) {
    const batch = Array.from({ length: Math.min(100, count - start) }, (_, i) =>
      env.BUCKET.put(`${prefix}${String(start + i).padStart(5, '0')}`, 'x'),
    )
    await Promise.all(batch)
  }
}

async function countObjects(prefix: string): Promise<number> {
  let total = 0
  let cursor: string | undefined
  do {
    const listed = await env.BUCKET.list({ prefix, cursor })
    total += listed.objects.length
    cursor = listed.truncated ? listed.cursor : undefined
  } while (cursor)
  return total
}

describe('GET /adm/v1/orgs', () => {
  it('lists orgs with filters, order, fields and paging', async () => {
    const tag = `lst${Math.random().toString(36).slice(2, 6)}`
    const made = [await newOrg(tag), await newOrg(tag), await newOrg(tag)].map((o) => o.orgName)
    const headers = await adminHeaders()
    const answer = await call('GET', `/adm/v1/orgs?orgName=${tag}&order[]=-orgName`, { headers })
    expect(answer.status).toBe(200)
    expect(answer.body.total).toBe(3)
    expect(answer.body.items.map((o: { orgName: string }) => o.orgName)).toEqual(
      [...made].sort().reverse(),
    )
    expect(answer.body.items[0]).toMatchObject({ state: 'active', label: null })

    const paged = await call(
      'GET',
      `/adm/v1/orgs?orgName=${tag}&limit=2&offset=2&fields[]=orgName`,
      {
        headers,
      },
    )
    expect(paged.body).toMatchObject({ total: 3, offset: 2, limit: 2 })
    expect(paged.body.items).toEqual([{ orgName: [...made].sort()[2] }])
    const bad = await call('GET', '/adm/v1/orgs?order[]=secret', { headers })
    expect(bad.status).toBe(400)
  })

  it('is for operators only', async () => {
    const org = await newOrg('adm')
    expect((await call('GET', '/adm/v1/orgs')).status).toBe(401)
    expect((await call('GET', '/adm/v1/orgs', { headers: org.headers })).status).toBe(401)
    expect(
      (await call('GET', `/adm/v1/orgs/${org.orgName}`, { headers: org.headers })).status,
    ).toBe(401)
    expect(
      (await call('DELETE', `/adm/v1/orgs/${org.orgName}`, { headers: org.headers })).status,
    ).toBe(401)
  })
})

describe('GET /adm/v1/orgs/{orgName}', () => {
  it('shows the numbers of users and apps and the bytes of live builds', async () => {
    const org = await newOrg('detail')
    await makeHuman(org, 'second')
    const orgId = await orgIdOf(org.orgName)
    await addApp(orgId, [
      { bytes: 1000, state: 'ready' },
      { bytes: 234, state: 'ready' },
      { bytes: 99_999, state: 'deleted' },
    ])
    await addApp(orgId, [{ bytes: 5, state: 'pending' }])
    const answer = await call('GET', `/adm/v1/orgs/${org.orgName}`, {
      headers: await adminHeaders(),
    })
    expect(answer.status).toBe(200)
    expect(answer.body.org).toMatchObject({
      orgName: org.orgName,
      state: 'active',
      nUsers: 2,
      nApps: 2,
      storageBytes: 1239,
    })
    const missing = await call('GET', '/adm/v1/orgs/no_such_org', { headers: await adminHeaders() })
    expect(missing.status).toBe(404)
    const bad = await call('GET', '/adm/v1/orgs/x', { headers: await adminHeaders() })
    expect(bad.status).toBe(400)
  })
})

describe('deleting an org', () => {
  it('erases its objects and records in steps, and frees the name', async () => {
    const org = await newOrg('erase')
    const neighbour = await newOrg('erase')
    const orgId = await orgIdOf(org.orgName)
    const neighbourId = await orgIdOf(neighbour.orgName)
    const password = await makeHuman(org, 'second')
    const session = await signIn(org.orgName, 'second', password)
    await addApp(orgId, [{ bytes: 10, state: 'ready' }])
    await putObjects(`orgs/${orgId}/apps/a/`, 1100)
    await putObjects(`orgs/${neighbourId}/apps/a/`, 3)

    const answer = await call('DELETE', `/adm/v1/orgs/${org.orgName}?prune=false`, {
      headers: await adminHeaders(),
    })
    expect(answer.status).toBe(202)
    expect(answer.body.taskName).toMatch(/^prune_/)
    // Credentials of the org stop at once.
    expect((await call('GET', '/be/v1/users/admin', { headers: org.headers })).status).toBe(401)
    expect((await call('GET', '/be/v1/users/second', { headers: session.headers })).status).toBe(
      401,
    )

    const task = await waitForTask(answer.body.taskName, 30_000)
    expect(task).toMatchObject({ type: 'prune', state: 'succeeded', progress: 1 })
    expect(task.result).toMatchObject({ orgName: org.orgName, objectsDeleted: 1100 })
    expect(await countObjects(`orgs/${orgId}/`)).toBe(0)
    expect(await countObjects(`orgs/${neighbourId}/`)).toBe(3)

    const db = dbOf(env)
    expect(await db.select().from(users).where(eq(users.orgId, orgId)).all()).toEqual([])
    expect(await db.select().from(sessions).where(eq(sessions.orgId, orgId)).all()).toEqual([])
    expect(await db.select().from(apps).where(eq(apps.orgId, orgId)).all()).toEqual([])
    const headers = await adminHeaders()
    expect((await call('GET', `/adm/v1/orgs/${org.orgName}`, { headers })).status).toBe(404)
    expect((await call('GET', '/be/v1/users/admin', { headers: neighbour.headers })).status).toBe(
      200,
    )

    const again = await call('POST', '/adm/v1/orgs', {
      headers,
      body: { orgName: org.orgName, admin: { username: 'admin', email: 'new@example.com' } },
    })
    expect(again.status).toBe(201)
  }, 60_000)

  it('refuses a second deletion while one runs, and shows the deleting state', async () => {
    const org = await newOrg('busy')
    await dbOf(env).update(orgs).set({ state: 'deleting' }).where(eq(orgs.name, org.orgName))
    const headers = await adminHeaders()
    const answer = await call('DELETE', `/adm/v1/orgs/${org.orgName}`, { headers })
    expect(answer.status).toBe(409)
    const listed = await call('GET', `/adm/v1/orgs?orgName=${org.orgName}&state=deleting`, {
      headers,
    })
    expect(listed.body.items).toEqual([expect.objectContaining({ state: 'deleting' })])
    expect((await call('GET', '/be/v1/users/admin', { headers: org.headers })).status).toBe(401)
    const missing = await call('DELETE', '/adm/v1/orgs/no_such_org', { headers })
    expect(missing.status).toBe(404)
    const badFlag = await call('DELETE', `/adm/v1/orgs/${org.orgName}?prune=yes`, { headers })
    expect(badFlag.status).toBe(400)
  })
})

describe('deleting an org with prune=true', () => {
  const put = async (key: string) => {
    expect((await s3Reader().put(key, new TextEncoder().encode(key))).status).toBe(200)
  }

  it("removes the org's published files on each origin, and only the org's", async () => {
    const org = await newOrg('prune')
    const neighbour = await newOrg('prune')
    const prefix = uniquePrefix('orgdel')
    await createDeployment(org.headers, s3Deployment('cdn', prefix))
    await createDeployment(org.headers, s3Deployment('mirror', `${prefix}/m`))
    const ours = [
      `${prefix}/dxf/${org.orgName}/game1/0001/dxf-0001-01/image.dxf`,
      `${prefix}/dxf/${org.orgName}/game2/0003/dxf-0003-02/profile.json`,
      `${prefix}/pat/${org.orgName}/game1/0002/0001/patch.dxf`,
      `${prefix}/m/dxf/${org.orgName}/game1/0001/dxf-0001-01/image.dxf`,
    ]
    const theirs = [
      `${prefix}/dxf/${neighbour.orgName}/game1/0001/dxf-0001-01/image.dxf`,
      `${prefix}/dxf/${org.orgName}x/game1/0001/dxf-0001-01/image.dxf`,
      `${prefix}/other/${org.orgName}/file`,
    ]
    for (const key of [...ours, ...theirs]) await put(key)

    const answer = await call('DELETE', `/adm/v1/orgs/${org.orgName}?prune=true`, {
      headers: await adminHeaders(),
    })
    expect(answer.status).toBe(202)
    const task = await waitForTask(answer.body.taskName, 30_000)
    expect(task, JSON.stringify(task)).toMatchObject({
      type: 'prune',
      state: 'succeeded',
      warnings: [],
    })
    expect(task.result).toMatchObject({ originsPruned: true, originFilesDeleted: ours.length })
    expect(await s3Reader().list(`${prefix}/`)).toEqual([...theirs].sort())
  }, 60_000)

  it('leaves the files of an origin that refuses, with a warning, and still erases the org', async () => {
    const org = await newOrg('prune')
    const prefix = uniquePrefix('orgdel')
    await createDeployment(
      org.headers,
      s3Deployment('a_broken', `${prefix}/a`, { secretAccessKey: 'not-the-secret' }),
    )
    await createDeployment(org.headers, s3Deployment('b_fine', `${prefix}/b`))
    const stuck = `${prefix}/a/dxf/${org.orgName}/game/0001/dxf-0001-01/image.dxf`
    await put(stuck)
    await put(`${prefix}/b/dxf/${org.orgName}/game/0001/dxf-0001-01/image.dxf`)

    const answer = await call('DELETE', `/be/v1/orgs/${org.orgName}?prune=true`, {
      headers: org.headers,
    })
    const task = await waitForTask(answer.body.taskName, 30_000)
    expect(task.state).toBe('succeeded')
    expect(task.warnings).toEqual([
      expect.objectContaining({ code: 'originNotPruned', acknowledged: false }),
    ])
    expect(task.warnings[0].message).toContain('deployment a_broken')
    expect(task.result).toMatchObject({ originsPruned: true, originFilesDeleted: 1 })
    expect(await s3Reader().list(`${prefix}/`)).toEqual([stuck])
    const gone = await call('GET', `/adm/v1/orgs/${org.orgName}`, { headers: await adminHeaders() })
    expect(gone.status).toBe(404)
  }, 60_000)

  it('leaves published files in place without prune', async () => {
    const org = await newOrg('prune')
    const prefix = uniquePrefix('orgdel')
    await createDeployment(org.headers, s3Deployment('cdn', prefix))
    const key = `${prefix}/dxf/${org.orgName}/game/0001/dxf-0001-01/image.dxf`
    await put(key)
    const answer = await call('DELETE', `/adm/v1/orgs/${org.orgName}?prune=false`, {
      headers: await adminHeaders(),
    })
    const task = await waitForTask(answer.body.taskName, 30_000)
    expect(task.result).toMatchObject({ originsPruned: false, originFilesDeleted: 0 })
    expect(await s3Reader().list(`${prefix}/`)).toEqual([key])
  }, 60_000)
})

describe('DELETE /be/v1/orgs/{orgName}', () => {
  it('lets an administrator of the org delete it', async () => {
    const org = await newOrg('bedel')
    const answer = await call('DELETE', `/be/v1/orgs/${org.orgName}?prune=true`, {
      headers: org.headers,
    })
    expect(answer.status).toBe(202)
    const task = await waitForTask(answer.body.taskName)
    expect(task.state).toBe('succeeded')
    expect(task.warnings).toEqual([])
    expect(task.result).toMatchObject({ originsPruned: true, originFilesDeleted: 0 })
    const gone = await call('GET', `/adm/v1/orgs/${org.orgName}`, { headers: await adminHeaders() })
    expect(gone.status).toBe(404)
  }, 60_000)

  it('refuses other members, other orgs and operators', async () => {
    const org = await newOrg('bedel')
    const other = await newOrg('bedel')
    await makeRole(org, 'AlmostAll', { beUsers: 15, roles: 15, apps: 15 })
    const member = await makeMachine(org, 'member', ['AlmostAll'])
    const path = `/be/v1/orgs/${org.orgName}`

    const notAdmin = await call('DELETE', path, { headers: member })
    expect(notAdmin.status).toBe(403)
    expect(notAdmin.body.details).toEqual([{ permission: 'orgs.delete' }])
    const foreign = await call('DELETE', path, { headers: other.headers })
    expect(foreign.status).toBe(404)
    expect((await call('DELETE', path)).status).toBe(401)
    expect((await call('DELETE', path, { headers: await adminHeaders() })).status).toBe(401)
    const badFlag = await call('DELETE', `${path}?prune=1`, { headers: org.headers })
    expect(badFlag.status).toBe(400)

    const detail = await call('GET', `/adm/v1/orgs/${org.orgName}`, {
      headers: await adminHeaders(),
    })
    expect(detail.body.org.state).toBe('active')
  })
})
