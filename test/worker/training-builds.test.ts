import { runInDurableObject } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { and, eq } from 'drizzle-orm'
import { beforeAll, describe, expect, it } from 'vitest'
import { coordinatorOf } from '../../src/coordinator/app-coordinator'
import type { CoordinatorState } from '../../src/coordinator/coordinator-state'
import { dbOf } from '../../src/db/client'
import { apps, builds, retiredFiles, traces, trainingRuns } from '../../src/db/schema'
import { evictOldBuilds } from '../../src/domain/apps/evict-builds'
import { foldBatch, modelOfBuild } from '../../src/domain/training/fold'
import { createLogger } from '../../src/http/log'
import { buildIdText, imageKeys, statsKey } from '../../src/storage/keys'
import { insertBuild } from './app-fixtures'
import { driveTask, stepTask } from './build-fixtures'
import { newOrg, type OrgFixture } from './fixtures'
import { call } from './helpers'
import { seededBytes } from './tar-fixture'
import {
  appWithBuild,
  BLOCK,
  eventually,
  gameEntries,
  importBuild,
  playedSession,
  stagedMkdxf,
  type TrainingApp,
  traceFile,
  uploadPlayedSessions,
  uploadTrace,
} from './training-fixtures'

let org: OrgFixture

beforeAll(async () => {
  org = await newOrg('trainbuilds')
}, 30_000)

interface TrainingView {
  dxfName: string
  nTraces: number
  nNewTraces: number
  coverage: number
}

/** An app keeping `maxBuilds` builds, with `count` sessions counted and no automatic run. */
async function trainedApp(count: number, maxBuilds = 1): Promise<TrainingApp> {
  const app = await appWithBuild(org, { nTracesReliable: 1, nProcessTracesMin: 1000 })
  await setMaxBuilds(app, maxBuilds)
  await uploadPlayedSessions(app, count)
  return app
}

async function setMaxBuilds(app: TrainingApp, maxBuilds: number) {
  const patched = await call('PATCH', '/be/v1/apps', {
    headers: org.headers,
    body: { name: app.name, maxBuilds },
  })
  expect(patched.status).toBe(200)
  return patched.body
}

/** The coordinator's state as stored (private to it; read here to see what it holds). */
async function coordinatorState(app: TrainingApp): Promise<CoordinatorState> {
  const stub = coordinatorOf(env, app.org.orgName, app.name)
  return runInDurableObject(stub, (instance) => {
    return structuredClone((instance as unknown as { state: CoordinatorState }).state)
  })
}

/** The app's training as the API shows it, once `ready` holds for it. */
function trainingOnce(app: TrainingApp, ready: (training: TrainingView) => boolean) {
  return eventually('the training figures', async () => {
    const answer = await call('GET', `/be/v1/trainings/${app.name}`, { headers: org.headers })
    const training = answer.body.training as TrainingView
    return ready(training) ? training : undefined
  })
}

/** The coordinator's figures once they refer to build `buildId` (it follows on its own). */
function figuresOfBuild(app: TrainingApp, buildId: number) {
  return eventually(`the figures of build ${buildId}`, async () => {
    const stub = coordinatorOf(env, app.org.orgName, app.name)
    const figures = await stub.figures(identityOf(app), buildId)
    return figures.buildId === buildId ? figures : undefined
  })
}

/** The game with one file changed: a new build that shares most blocks with the first. */
function changedGame() {
  const entries = gameEntries()
  entries[3] = { path: 'game/data/a.pak', data: seededBytes(77, 16 * BLOCK) }
  return entries
}

function identityOf(app: TrainingApp) {
  return { orgId: app.orgId, orgName: app.org.orgName, appId: app.appId, appName: app.name }
}

describe('a new build that evicts the build training learnt on', () => {
  it('keeps the statistics: they are carried before the old build goes', async () => {
    const app = await trainedApp(6)
    const next = await importBuild(app, changedGame())
    const old = await dbOf(env)
      .select({ state: builds.state })
      .from(builds)
      .where(and(eq(builds.appId, app.appId), eq(builds.buildId, app.buildId)))
      .get()
    expect(old?.state).toBe('deleted')

    const figures = await figuresOfBuild(app, next.buildId)
    expect(figures).toMatchObject({ nTraces: 6, nNewTraces: 6 })
    expect(figures.coverage).toBeGreaterThan(0)
    const training = await trainingOnce(app, (view) => view.nTraces === 6)
    expect(training).toMatchObject({ dxfName: `dxf-${buildIdText(next.buildId)}-01` })
  }, 90_000)

  it("deletes the evicted build's traces and statistics, and only those", async () => {
    const app = await trainedApp(3)
    const db = dbOf(env)
    const ofBuild = (buildId: number) =>
      db
        .select({ rawKey: traces.rawKey, normKey: traces.normKey })
        .from(traces)
        .where(and(eq(traces.appId, app.appId), eq(traces.buildId, buildId)))
        .all()
    // More traces than one round of deletion takes (500), as rows and objects.
    const extra = Array.from({ length: 620 }, (_, i) => ({
      id: `trc_evict_${app.appId}_${i}`,
      orgId: app.orgId,
      appId: app.appId,
      buildId: app.buildId,
      sessionId: `evict-${i}`,
      durationMs: 1000,
      reads: 1,
      blocksTouched: 1,
      rawKey: `${app.orgId}/extra/${i}/raw`,
      normKey: `${app.orgId}/extra/${i}/norm`,
      counted: true,
    }))
    for (let at = 0; at < extra.length; at += 80) {
      const rows = extra.slice(at, at + 80)
      const [first, ...rest] = rows.map((row) => db.insert(traces).values(row))
      await db.batch([first, ...rest])
      for (const row of rows) await env.BUCKET.put(row.rawKey, 'raw')
    }
    const before = await ofBuild(app.buildId)
    expect(before).toHaveLength(623)

    const next = await importBuild(app, changedGame())
    expect(await figuresOfBuild(app, next.buildId)).toMatchObject({ nTraces: 3 })
    const kept = { ...app, buildId: next.buildId, buildName: next.buildName }
    expect((await uploadTrace(kept, traceFile(playedSession(9)))).status).toBe(202)

    expect(await ofBuild(app.buildId)).toEqual([])
    for (const row of before) {
      expect(await env.BUCKET.head(row.rawKey)).toBeNull()
      expect(await env.BUCKET.head(row.normKey)).toBeNull()
    }
    expect(await env.BUCKET.head(statsKey(app.orgId, app.appId, app.buildId))).toBeNull()
    const [newTrace] = await ofBuild(next.buildId)
    expect(await env.BUCKET.head(newTrace.normKey)).not.toBeNull()
  }, 120_000)

  it('carries the traces announced just before the switch, not yet folded', async () => {
    const app = await trainedApp(4)
    for (const variant of [7, 8]) {
      expect((await uploadTrace(app, traceFile(playedSession(variant)))).status).toBe(202)
    }
    // No alarm folds them: they are still pending when the new build commits.
    const stub = coordinatorOf(env, org.orgName, app.name)
    const pending = await runInDurableObject(stub, async (_instance, state) => {
      await state.storage.deleteAlarm()
      return (await state.storage.list({ prefix: 'pending:' })).size
    })
    expect(pending).toBe(2)
    const next = await importBuild(app, changedGame())
    expect(await figuresOfBuild(app, next.buildId)).toMatchObject({ nTraces: 6, nNewTraces: 6 })
  }, 90_000)

  it('never evicts the build training is on when maxBuilds goes down', async () => {
    const app = await trainedApp(4, 5)
    const next = await importBuild(app, changedGame())
    // Nothing has woken the coordinator since: its figures are still on the first build.
    expect((await coordinatorState(app)).buildId).toBe(app.buildId)
    const answer = await setMaxBuilds(app, 1)
    expect(answer.app.builds.map((build: { buildId: number }) => build.buildId)).toEqual([
      next.buildId,
    ])
    expect(await figuresOfBuild(app, next.buildId)).toMatchObject({ nTraces: 4, nNewTraces: 4 })
  }, 90_000)

  it('counts no more new traces than traces when nothing could be carried', async () => {
    const app = await trainedApp(4)
    // The first build's statistics are lost (as if its objects were gone).
    await env.BUCKET.delete(statsKey(app.orgId, app.appId, app.buildId))
    const next = await importBuild(app, changedGame())
    const figures = await figuresOfBuild(app, next.buildId)
    expect(figures).toMatchObject({ nTraces: 0, nNewTraces: 0 })
  }, 90_000)
})

describe('a run that ends after its build stopped being current', () => {
  /**
   * An app with a run of the coordinator's on its first build (a task that does not start by
   * itself), then a second build made current.
   */
  async function runOnReplacedBuild() {
    const app = await trainedApp(5)
    const taskName = await stagedMkdxf(app)
    const stub = coordinatorOf(env, org.orgName, app.name)
    await runInDurableObject(stub, async (instance, state) => {
      const coordinator = instance as unknown as { state: CoordinatorState }
      coordinator.state.run = {
        taskName,
        nNewAtSubmit: 5,
        manual: true,
        submitted: true,
        since: new Date().toISOString(),
        buildId: app.buildId,
      }
      await state.storage.put('state', coordinator.state)
    })
    const next = await importBuild(app, changedGame())
    expect(await figuresOfBuild(app, next.buildId)).toMatchObject({ nTraces: 5 })
    return { app, taskName, stub }
  }

  it('leaves its traces new for the build that replaced it when it published nothing', async () => {
    const { app, taskName, stub } = await runOnReplacedBuild()
    await stub.runFinished(taskName, { succeeded: true, deployed: false })
    const figures = await stub.figures(identityOf(app), null)
    expect(figures).toMatchObject({ runningTask: null, nTraces: 5, nNewTraces: 5 })
  }, 90_000)

  it('neither uses its traces up nor holds runs back when it failed', async () => {
    const { app, taskName, stub } = await runOnReplacedBuild()
    await stub.runFinished(taskName, { succeeded: false })
    const figures = await stub.figures(identityOf(app), null)
    expect(figures).toMatchObject({ runningTask: null, nTraces: 5, nNewTraces: 5 })
    expect((await coordinatorState(app)).failedAtNew).toBeNull()
  }, 90_000)

  it('uses its traces up when it published', async () => {
    const { app, taskName, stub } = await runOnReplacedBuild()
    await stub.runFinished(taskName, { succeeded: true, deployed: true })
    const figures = await stub.figures(identityOf(app), null)
    expect(figures).toMatchObject({ runningTask: null, nTraces: 5, nNewTraces: 0 })
  }, 90_000)
})

describe('a run whose build is replaced before it publishes', () => {
  it('leaves that build on its image: nothing switched, nothing retired', async () => {
    const app = await trainedApp(6, 5)
    const taskName = await stagedMkdxf(app)
    for (let steps = 0; ; steps++) {
      const outcome = await stepTask(taskName)
      expect(outcome.kind).toBe('continue')
      if ((outcome as unknown as { cursor: { stage: string } }).cursor.stage === 'publish') break
      expect(steps).toBeLessThan(200)
    }
    const next = await importBuild(app, changedGame())
    await driveTask(taskName)

    const db = dbOf(env)
    const [run] = await db.select().from(trainingRuns).where(eq(trainingRuns.taskName, taskName))
    expect(run.deployed).toBe(false)
    expect(run.reason).toContain(`not published: build ${app.buildId} is no longer current`)
    const first = `dxf-${buildIdText(app.buildId)}-01`
    const build = await db
      .select({ dxfName: builds.dxfName })
      .from(builds)
      .where(and(eq(builds.appId, app.appId), eq(builds.buildId, app.buildId)))
      .get()
    expect(build?.dxfName).toBe(first)
    const image = imageKeys(app.orgId, app.appId, first).image
    expect(await db.select().from(retiredFiles).where(eq(retiredFiles.key, image))).toEqual([])
    expect(await env.BUCKET.head(image)).not.toBeNull()
    const [current] = await db.select().from(apps).where(eq(apps.id, app.appId))
    expect(current.dxfName).toBe(`dxf-${buildIdText(next.buildId)}-01`)
  }, 120_000)
})

describe('eviction against builds that change under it', () => {
  it('never takes the current build when it was read before a build became current', async () => {
    const app = await trainedApp(3, 5)
    const second = await importBuild(app, changedGame())
    await figuresOfBuild(app, second.buildId)
    const [stale] = await dbOf(env).select().from(apps).where(eq(apps.id, app.appId))
    // Build 3 becomes current after `stale` was read; it has no tables yet, so training stays
    // on build 2 for now.
    await insertBuild({ orgId: app.orgId, appId: app.appId, buildId: 3, current: true })

    const evicted = await evictOldBuilds(env, { ...stale, maxBuilds: 1 }, createLogger('error'))
    expect(evicted).toEqual([app.buildId])
    const states = await dbOf(env)
      .select({ buildId: builds.buildId, state: builds.state })
      .from(builds)
      .where(eq(builds.appId, app.appId))
      .orderBy(builds.buildId)
    expect(states.map((row) => row.state)).toEqual(['deleted', 'ready', 'ready'])
    expect((await coordinatorState(app)).buildId).toBe(second.buildId)
  }, 90_000)

  it('folds nothing into a build whose tables are gone, and does not fail', async () => {
    const app = await trainedApp(1, 5)
    await insertBuild({ orgId: app.orgId, appId: app.appId, buildId: 2 })
    const owner = { orgId: app.orgId, appId: app.appId, buildId: 2 }
    expect(await modelOfBuild(env, owner)).toBeNull()
    expect(await foldBatch(env, owner, [], 99, createLogger('error'))).toBeNull()
  }, 60_000)
})
