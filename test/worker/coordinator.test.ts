import { env } from 'cloudflare:workers'
import { and, eq } from 'drizzle-orm'
import { beforeAll, describe, expect, it } from 'vitest'
import { runCron } from '../../src/cron'
import { dbOf } from '../../src/db/client'
import { tasks, traces, trainingRuns } from '../../src/db/schema'
import { newId } from '../../src/domain/auth/secrets'
import { appPrefix, buildIdText } from '../../src/storage/keys'
import { allKeys, driveTask } from './build-fixtures'
import { newOrg, type OrgFixture } from './fixtures'
import { call, waitForTask } from './helpers'
import {
  appTasks,
  appWithBuild,
  eventually,
  figuresOf,
  playedSession,
  stagedMkdxf,
  type TrainingApp,
  traceFile,
  uploadTrace,
} from './training-fixtures'

let org: OrgFixture

/** A step number no queued message of a new task has. */
const HELD_SEQ = 100

beforeAll(async () => {
  org = await newOrg('coord')
}, 30_000)

/** Settings that make a run due once `nProcessTracesMin` traces arrived. */
const eager = (nProcessTracesMin: number) => ({
  nTracesReliable: 1,
  nProcessTracesMin,
  minCoverage: 0,
  maxCoverage: 1,
  minTraceTimeSec: 0,
})

/** Image folders of `app`'s build in R2. */
async function imageNames(app: TrainingApp): Promise<string[]> {
  const stem = `${appPrefix(app.orgId, app.appId)}images/`
  const keys = await allKeys(`${stem}dxf-${buildIdText(app.buildId)}-`)
  return [...new Set(keys.map((key) => key.slice(stem.length).split('/')[0]))].sort()
}

async function uploadSessions(app: TrainingApp, count: number, from = 0) {
  for (let i = from; i < from + count; i++) {
    const answer = await uploadTrace(app, traceFile(playedSession(i)))
    expect(answer.status).toBe(202)
  }
}

describe('the coordinator folds traces and starts runs', () => {
  it('starts exactly one mkdxf when 50 traces arrive at once across the threshold', async () => {
    const app = await appWithBuild(org, eager(30))
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => uploadTrace(app, traceFile(playedSession(i)))),
    )
    expect(answers.map((answer) => answer.status)).toEqual(Array(50).fill(202))

    await eventually('all 50 traces counted', async () => {
      const figures = await figuresOf(app)
      return figures.nTraces === 50 ? figures : undefined
    })
    const [run] = await eventually('an mkdxf task', async () => {
      const runs = await appTasks(app.appId, 'mkdxf')
      return runs.length ? runs : undefined
    })
    await waitForTask(run.id, 30_000)
    // Give later alarms the time to start a second run, if they wrongly would.
    await new Promise((resolve) => setTimeout(resolve, 3000))
    expect(await appTasks(app.appId, 'mkdxf')).toHaveLength(1)

    const rows = await dbOf(env).select().from(traces).where(eq(traces.appId, app.appId)).all()
    expect(rows).toHaveLength(50)
    expect(rows.every((row) => row.counted)).toBe(true)
    const figures = await figuresOf(app)
    expect(figures.runningTask).toBeNull()
    expect(figures.nNewTraces).toBeLessThan(30)
  }, 90_000)

  it('counts a trace that arrives while mkdxf runs for the next run', async () => {
    const app = await appWithBuild(org, eager(5))
    await uploadSessions(app, 5)
    // Hold the run at its first step: a queue message for another step number is dropped,
    // as a duplicate would be, so the task waits until the test sends the step again.
    const run = await eventually(
      'an mkdxf task',
      async () => {
        const [task] = await appTasks(app.appId, 'mkdxf')
        if (!task) return undefined
        const held = await dbOf(env)
          .update(tasks)
          .set({ seq: HELD_SEQ })
          .where(and(eq(tasks.id, task.id), eq(tasks.seq, 0)))
          .returning({ id: tasks.id })
        expect(held, 'the run moved on before the test could hold it').toHaveLength(1)
        return task
      },
      20_000,
      10,
    )

    await uploadSessions(app, 1, 5)
    const during = await eventually('the sixth trace counted', async () => {
      const figures = await figuresOf(app)
      return figures.nTraces === 6 ? figures : undefined
    })
    expect(during.runningTask).toBe(run.id)
    expect(during.nNewTraces).toBe(6)
    // Never two at once: asking for a run now is refused.
    const second = await call('POST', '/be/v1/trigger', {
      headers: org.headers,
      body: { type: 'processTraces', appName: app.name },
    })
    expect(second.status).toBe(409)

    await env.TASKS.send({ taskName: run.id, seq: HELD_SEQ })
    expect((await waitForTask(run.id, 30_000)).state).toBe('succeeded')
    const after = await eventually('the run settled', async () => {
      const figures = await figuresOf(app)
      return figures.runningTask === null ? figures : undefined
    })
    expect(after.nTraces).toBe(6)
    expect(after.nNewTraces).toBe(1)
    expect(after.lastProcessed).not.toBeNull()
    expect(await appTasks(app.appId, 'mkdxf')).toHaveLength(1)
  }, 90_000)

  it('picks up a stored trace its coordinator never heard of, through the cron', async () => {
    const app = await appWithBuild(org, { nProcessTracesMin: 1000 })
    await uploadSessions(app, 1)
    await eventually('the first trace counted', async () =>
      (await figuresOf(app)).nTraces === 1 ? true : undefined,
    )

    // A trace stored when the coordinator could not be reached: in D1 and R2, never counted.
    const db = dbOf(env)
    const stored = await db.select().from(traces).where(eq(traces.appId, app.appId)).get()
    const lostId = newId()
    await db.insert(traces).values({
      ...stored!,
      id: lostId,
      sessionId: 'lost-session',
      counted: false,
      created: new Date(Date.now() - 120_000).toISOString(),
    })
    await runCron(env, new Date())
    await eventually('the lost trace counted', async () => {
      const row = await db.select().from(traces).where(eq(traces.id, lostId)).get()
      return row?.counted ? row : undefined
    })
    expect((await figuresOf(app)).nTraces).toBe(2)
  }, 60_000)
})

describe('an mkdxf step that runs twice changes nothing the second time', () => {
  it('writes one image when the queue delivers a step again', async () => {
    const app = await appWithBuild(org, { nProcessTracesMin: 1000, nTracesReliable: 1 })
    await uploadSessions(app, 6)
    await eventually('traces counted', async () =>
      (await figuresOf(app)).nTraces === 6 ? true : undefined,
    )

    const trigger = await call('POST', '/be/v1/trigger', {
      headers: org.headers,
      body: { type: 'processTraces', appName: app.name },
    })
    expect(trigger.status, JSON.stringify(trigger.body)).toBe(202)
    const taskName = trigger.body.taskName as string
    await env.TASKS.send({ taskName, seq: 0 })
    await env.TASKS.send({ taskName, seq: 1 })

    const task = await waitForTask(taskName, 30_000)
    expect(task.state).toBe('succeeded')
    expect(task.result.deployed).toBe(true)
    expect(await imageNames(app)).toEqual([
      `dxf-${buildIdText(app.buildId)}-01`,
      `dxf-${buildIdText(app.buildId)}-02`,
    ])
    const runs = await dbOf(env)
      .select()
      .from(trainingRuns)
      .where(eq(trainingRuns.taskName, taskName))
      .all()
    expect(runs).toHaveLength(1)
    expect(await appTasks(app.appId, 'deploy')).toHaveLength(2)
  }, 60_000)

  it('writes one image when every step runs twice before its outcome is saved', async () => {
    const app = await appWithBuild(org, { nProcessTracesMin: 1000, nTracesReliable: 1 })
    await uploadSessions(app, 6)
    await eventually('traces counted', async () =>
      (await figuresOf(app)).nTraces === 6 ? true : undefined,
    )
    const taskName = await stagedMkdxf(app)
    await driveTask(taskName, { twice: true })

    const build = buildIdText(app.buildId)
    expect(await imageNames(app)).toEqual([`dxf-${build}-01`, `dxf-${build}-02`])
    const deploys = (await appTasks(app.appId, 'deploy')).filter((row) =>
      row.id.endsWith(taskName.replace(/^mkdxf_/, '')),
    )
    expect(deploys).toHaveLength(1)
    const runs = await dbOf(env)
      .select()
      .from(trainingRuns)
      .where(and(eq(trainingRuns.appId, app.appId), eq(trainingRuns.taskName, taskName)))
      .all()
    expect(runs).toHaveLength(1)
    expect(runs[0].deployed).toBe(true)
  }, 60_000)
})
