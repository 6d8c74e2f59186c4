import { env } from 'cloudflare:workers'
import { eq } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { dbOf } from '../../src/db/client'
import { builds, uploads } from '../../src/db/schema'
import { insertBuild, insertTask, newApp, orgIdOf, userWithPermissions } from './app-fixtures'
import { newOrg } from './fixtures'
import { call, waitForTask } from './helpers'

const names = (items: { taskName: string }[]) => items.map((task) => task.taskName)

async function orgWithTasks() {
  const org = await newOrg('tasks')
  const orgId = await orgIdOf(org.orgName)
  const made = {
    old: await insertTask({
      orgId,
      appName: 'game_one',
      type: 'mkraw',
      state: 'succeeded',
      created: '2026-01-01T10:00:00.000Z',
    }),
    mid: await insertTask({
      orgId,
      appName: 'gameXone',
      type: 'dltar',
      state: 'failed',
      created: '2026-01-02T10:00:00.000Z',
      exception: { code: 'httpError', message: 'download failed', httpStatus: 404 },
    }),
    new: await insertTask({
      orgId,
      appName: 'tool',
      type: 'mkraw',
      state: 'running',
      created: '2026-01-03T10:00:00.000Z',
    }),
  }
  return { org, orgId, made }
}

describe('GET /be/v1/tasks', () => {
  it('lists the org tasks newest first, paged, with filters and fields', async () => {
    const { org, made } = await orgWithTasks()
    const other = await newOrg('tasks')
    await insertTask({ orgId: await orgIdOf(other.orgName), type: 'mkraw', state: 'running' })

    const all = await call('GET', '/be/v1/tasks', { headers: org.headers })
    expect(all.status).toBe(200)
    expect(all.body).toMatchObject({ status: 'success', total: 3, offset: 0, limit: 10 })
    expect(names(all.body.items)).toEqual([made.new, made.mid, made.old])
    expect(all.body.items[1]).toMatchObject({
      type: 'dltar',
      state: 'failed',
      appName: 'gameXone',
      exception: { code: 'httpError', httpStatus: 404 },
      warnings: [],
    })

    const second = await call('GET', '/be/v1/tasks?limit=1&offset=1', { headers: org.headers })
    expect(second.body).toMatchObject({ total: 3, offset: 1, limit: 1 })
    expect(names(second.body.items)).toEqual([made.mid])

    const oldestFirst = await call('GET', '/be/v1/tasks?order[]=created', { headers: org.headers })
    expect(names(oldestFirst.body.items)).toEqual([made.old, made.mid, made.new])

    const query = async (q: string) =>
      names((await call('GET', `/be/v1/tasks?${q}`, { headers: org.headers })).body.items)
    expect(await query('appName=e_o')).toEqual([made.old])
    expect(await query('appName=GAME')).toEqual([made.mid, made.old])
    expect(await query('type=mkraw')).toEqual([made.new, made.old])
    expect(await query('state=failed')).toEqual([made.mid])
    expect(await query('createdAfter=2026-01-01T10:00:00Z')).toEqual([made.new, made.mid])
    expect(await query('createdBefore=2026-01-03')).toEqual([made.mid, made.old])
    expect(
      await query('createdAfter=2026-01-02T00:00:00%2B02:00&createdBefore=2026-01-03T00:00:00Z'),
    ).toEqual([made.mid])

    const projected = await call('GET', '/be/v1/tasks?fields[]=taskName,state&type=dltar', {
      headers: org.headers,
    })
    expect(projected.body.items).toEqual([{ taskName: made.mid, state: 'failed' }])
  })

  it('refuses bad filters with 400', async () => {
    const org = await newOrg('tasks')
    for (const q of [
      'type=compile',
      'state=sleeping',
      'createdAfter=yesterday',
      'limit=101',
      'offset=-1',
      'fields[]=params',
      'order[]=progress',
    ]) {
      const answer = await call('GET', `/be/v1/tasks?${q}`, { headers: org.headers })
      expect(answer.status, q).toBe(400)
      expect(answer.body.code).toBe('invalidParam')
    }
  })

  it('needs a credential and tasks.read', async () => {
    const org = await newOrg('tasks')
    expect((await call('GET', '/be/v1/tasks')).status).toBe(401)
    const appsOnly = await userWithPermissions(org.orgName, { apps: 15 })
    const refused = await call('GET', '/be/v1/tasks', { headers: appsOnly })
    expect(refused.status).toBe(403)
    expect(refused.body.details).toEqual([{ permission: 'tasks.read' }])
  })
})

describe('GET /be/v1/tasks/{taskName}', () => {
  it("reads a task of the org, never another org's or an instance task", async () => {
    const { org, made } = await orgWithTasks()
    const other = await newOrg('tasks')
    const answer = await call('GET', `/be/v1/tasks/${made.mid}`, { headers: org.headers })
    expect(answer.status).toBe(200)
    expect(answer.body.task).toMatchObject({ taskName: made.mid, type: 'dltar', state: 'failed' })

    expect((await call('GET', `/be/v1/tasks/${made.mid}`, { headers: other.headers })).status).toBe(
      404,
    )
    const hello = await insertTask({ orgId: null, type: 'hello', state: 'succeeded' })
    expect((await call('GET', `/be/v1/tasks/${hello}`, { headers: org.headers })).status).toBe(404)
    expect((await call('GET', '/be/v1/tasks/nothing_here', { headers: org.headers })).status).toBe(
      404,
    )
  })
})

describe('PATCH /be/v1/tasks', () => {
  it('acknowledges every warning', async () => {
    const org = await newOrg('tasks')
    const taskName = await insertTask({
      orgId: await orgIdOf(org.orgName),
      type: 'mkraw',
      state: 'succeeded',
      warnings: [
        { code: 'emptyFile', message: 'a.txt is empty', acknowledged: false },
        { code: 'longPath', message: 'b is long', acknowledged: true },
      ],
    })
    const answer = await call('PATCH', '/be/v1/tasks', {
      headers: org.headers,
      body: { taskName, acknowledge: true },
    })
    expect(answer.status).toBe(200)
    expect(answer.body).toMatchObject({ status: 'success', message: 'task modified' })
    expect(answer.body.task.warnings).toEqual([
      { code: 'emptyFile', message: 'a.txt is empty', acknowledged: true },
      { code: 'longPath', message: 'b is long', acknowledged: true },
    ])
    const read = await call('GET', `/be/v1/tasks/${taskName}`, { headers: org.headers })
    expect(read.body.task.warnings.every((w: { acknowledged: boolean }) => w.acknowledged)).toBe(
      true,
    )
  })

  it('expires a dltar waiting for its upload: URL used up, build failed', async () => {
    const org = await newOrg('tasks')
    const app = await newApp(org)
    await insertBuild({ ...app, buildId: 1, state: 'pending', dxfName: null })
    const taskName = await insertTask({
      orgId: app.orgId,
      appId: app.appId,
      appName: app.name,
      buildName: 'build-0001',
      type: 'dltar',
      state: 'submitted',
    })
    await dbOf(env)
      .insert(uploads)
      .values({ hash: `h_${taskName}`, taskId: taskName, expires: '2999-01-01T00:00:00.000Z' })

    const answer = await call('PATCH', '/be/v1/tasks', {
      headers: org.headers,
      body: { taskName, expire: true },
    })
    expect(answer.status).toBe(200)
    expect(answer.body.task).toMatchObject({ taskName, state: 'expired' })
    expect(answer.body.task.ended).toBeTruthy()
    const upload = await dbOf(env).select().from(uploads).where(eq(uploads.taskId, taskName)).get()
    expect(upload?.used).toBe(true)
    const build = await dbOf(env).select().from(builds).where(eq(builds.appId, app.appId)).get()
    expect(build?.state).toBe('failed')

    const again = await call('PATCH', '/be/v1/tasks', {
      headers: org.headers,
      body: { taskName, expire: true },
    })
    expect(again.status).toBe(409)
  })

  it('refuses to expire a task that is not submitted, and bad bodies', async () => {
    const { org, made } = await orgWithTasks()
    const running = await call('PATCH', '/be/v1/tasks', {
      headers: org.headers,
      body: { taskName: made.new, expire: true },
    })
    expect(running.status).toBe(409)
    expect(running.body.message).toContain('running')

    const nothing = await call('PATCH', '/be/v1/tasks', {
      headers: org.headers,
      body: { taskName: made.new },
    })
    expect(nothing.status).toBe(400)
    const unknown = await call('PATCH', '/be/v1/tasks', {
      headers: org.headers,
      body: { taskName: made.new, acknowledge: true, cancel: true },
    })
    expect(unknown.status).toBe(400)
    expect(unknown.body.details).toContainEqual({ field: 'cancel', reason: 'unknown field' })

    const reader = await userWithPermissions(org.orgName, { tasks: 2 })
    const refused = await call('PATCH', '/be/v1/tasks', {
      headers: reader,
      body: { taskName: made.new, acknowledge: true },
    })
    expect(refused.status).toBe(403)
    expect(refused.body.details).toEqual([{ permission: 'tasks.update' }])
  })
})

describe('POST /be/v1/trigger', () => {
  it('retries a failed task, which then runs to its end', async () => {
    const org = await newOrg('trigger')
    const taskName = await insertTask({
      orgId: await orgIdOf(org.orgName),
      type: 'hello',
      state: 'failed',
      exception: { code: 'internal', message: 'flaky' },
      params: { message: 'again' },
    })
    const before = (await call('GET', `/be/v1/tasks/${taskName}`, { headers: org.headers })).body
      .task
    const answer = await call('POST', '/be/v1/trigger', {
      headers: org.headers,
      body: { type: 'retryTask', taskName },
    })
    expect(answer.status).toBe(202)
    expect(answer.body).toMatchObject({ status: 'success', taskName })
    const task = await waitForTask(taskName)
    expect(task).toMatchObject({ state: 'succeeded', exception: null })
    expect(task.result.message).toBe('again')
    // Each retry is one more attempt.
    expect(task.attempts).toBe(before.attempts + 1)

    const twice = await call('POST', '/be/v1/trigger', {
      headers: org.headers,
      body: { type: 'retryTask', taskName },
    })
    expect(twice.status).toBe(409)
  })

  it("does not retry another org's task", async () => {
    const org = await newOrg('trigger')
    const other = await newOrg('trigger')
    const taskName = await insertTask({
      orgId: await orgIdOf(other.orgName),
      type: 'mkraw',
      state: 'failed',
    })
    const answer = await call('POST', '/be/v1/trigger', {
      headers: org.headers,
      body: { type: 'retryTask', taskName },
    })
    expect(answer.status).toBe(404)
  })

  it('answers processTraces with 409 while the app has no image, 404 for an unknown app', async () => {
    const org = await newOrg('trigger')
    const app = await newApp(org)
    const answer = await call('POST', '/be/v1/trigger', {
      headers: org.headers,
      body: { type: 'processTraces', appName: app.name },
    })
    expect(answer.status).toBe(409)
    expect(answer.body.code).toBe('conflict')
    expect(answer.body.message).toContain('has no current image to train yet')
    const missing = await call('POST', '/be/v1/trigger', {
      headers: org.headers,
      body: { type: 'processTraces', appName: 'no_such_app' },
    })
    expect(missing.status).toBe(404)
  })

  it('refuses a bad type or body with 400 and a missing tasks.execute with 403', async () => {
    const org = await newOrg('trigger')
    for (const body of [
      { type: 'reboot', taskName: 'x' },
      { type: 'processTraces' },
      { type: 'processTraces', appName: 'bad-name' },
      { type: 'retryTask', appName: 'x_y' },
      { taskName: 'x' },
    ]) {
      const answer = await call('POST', '/be/v1/trigger', { headers: org.headers, body })
      expect(answer.status, JSON.stringify(body)).toBe(400)
    }
    expect((await call('POST', '/be/v1/trigger', { body: { type: 'retryTask' } })).status).toBe(401)
    const updater = await userWithPermissions(org.orgName, { tasks: 15 })
    const refused = await call('POST', '/be/v1/trigger', {
      headers: updater,
      body: { type: 'retryTask', taskName: 'x' },
    })
    expect(refused.status).toBe(403)
    expect(refused.body.details).toEqual([{ permission: 'tasks.execute' }])
  })
})
