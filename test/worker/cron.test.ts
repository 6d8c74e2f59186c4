import { env } from 'cloudflare:workers'
import { eq } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { runCron } from '../../src/cron'
import { dbOf } from '../../src/db/client'
import { tasks } from '../../src/db/schema'
import { adminHeaders, call, waitForTask } from './helpers'

describe('cron', () => {
  it('queues again the step of a running task that stopped moving, which then finishes', async () => {
    // A hello task whose step message was lost: running, untouched, no message on the queue.
    const taskName = 'hello_stuck_test'
    await dbOf(env)
      .insert(tasks)
      .values({
        id: taskName,
        orgId: null,
        type: 'hello',
        state: 'running',
        seq: 3,
        attempts: 1,
        params: JSON.stringify({ message: 'unstuck' }),
        updated: '2026-01-01T00:00:00.000Z',
      })

    await runCron(env, new Date())

    const task = await waitForTask(taskName)
    expect(task).toMatchObject({ state: 'succeeded', result: { message: 'unstuck' } })
  })

  it('leaves a task that moved recently alone', async () => {
    const taskName = 'hello_fresh_test'
    await dbOf(env)
      .insert(tasks)
      .values({
        id: taskName,
        orgId: null,
        type: 'hello',
        state: 'running',
        seq: 1,
        params: JSON.stringify({ message: 'x' }),
      })
    await runCron(env, new Date())
    await new Promise((resolve) => setTimeout(resolve, 1500))
    const row = await dbOf(env).select().from(tasks).where(eq(tasks.id, taskName)).get()
    expect(row?.state).toBe('running')
    const answer = await call('GET', `/adm/v1/tasks/${taskName}`, { headers: await adminHeaders() })
    expect(answer.body.task.state).toBe('running')
  })
})
