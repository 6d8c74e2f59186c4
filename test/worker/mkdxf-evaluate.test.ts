import { env } from 'cloudflare:workers'
import { eq } from 'drizzle-orm'
import { beforeAll, describe, expect, it } from 'vitest'
import { dbOf } from '../../src/db/client'
import { tasks, trainingRuns } from '../../src/db/schema'
import { loadBuildModel } from '../../src/domain/training/build-store'
import { appOrderMethod, inheritedStats } from '../../src/domain/training/carry'
import type { EvaluationCursor } from '../../src/domain/training/mkdxf/evaluate'
import { scratchKeys } from '../../src/domain/training/mkdxf/run-job'
import { newestTraceKeys, storedTraces } from '../../src/domain/training/mkdxf/trace-sample'
import { loadStats } from '../../src/domain/training/stats-store'
import type { FoldPreloads } from '../../src/engine/cross-validate'
import { ORDER_METHODS, orderFromStats } from '../../src/engine/order'
import type { TraceRead } from '../../src/engine/trace-types'
import { typicalNeed, withTypicalHead } from '../../src/engine/typical'
import { buildIdText, imageKeys } from '../../src/storage/keys'
import type { StepOutcome } from '../../src/tasks/types'
import { allKeys, driveTask, readImageHeader, stepTask } from './build-fixtures'
import { newOrg, type OrgFixture } from './fixtures'
import { call } from './helpers'
import {
  appWithBuild,
  BLOCK,
  eventually,
  figuresOf,
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
  org = await newOrg('mkdxfeval')
}, 30_000)

interface Cursor {
  stage: string
  evaluation?: EvaluationCursor
}

/** An app whose candidate wins, with `count` sessions counted; no run starts on its own. */
async function trainedApp(count: number): Promise<TrainingApp> {
  const app = await appWithBuild(org, { nProcessTracesMin: 1000, nTracesReliable: 1 })
  await uploadPlayedSessions(app, count)
  return app
}

/** The cursor a step left, failing when the task ended instead. */
function cursorOf(outcome: StepOutcome): Cursor {
  expect(outcome.kind).toBe('continue')
  return (outcome as { cursor: unknown }).cursor as Cursor
}

async function runRow(taskName: string) {
  return dbOf(env).select().from(trainingRuns).where(eq(trainingRuns.taskName, taskName)).all()
}

describe('mkdxf evaluates in bounded steps', () => {
  it('measures one fold per step, keeps each in a scratch object, and the traces it started with', async () => {
    const app = await trainedApp(6)
    const taskName = await stagedMkdxf(app)
    const scratch = scratchKeys(app.orgId, app.appId, app.buildId, taskName)

    expect(cursorOf(await stepTask(taskName))).toMatchObject({ stage: 'evaluate' })

    const first = cursorOf(await stepTask(taskName)).evaluation as EvaluationCursor
    expect(first).toMatchObject({ traces: 6, folds: 5, fold: 0 })
    // A session arriving now is not measured by this run: every step reads the same list.
    expect((await uploadTrace(app, traceFile(playedSession(6)))).status).toBe(202)

    // Every method's order is measured on every fold, one step each, method by method.
    const positions: [number, number][] = []
    for (const method of ORDER_METHODS) {
      for (let fold = 0; fold < 5; fold++) {
        const cursor = cursorOf(await stepTask(taskName))
        expect(cursor.stage).toBe('evaluate')
        positions.push([cursor.evaluation?.method ?? -1, cursor.evaluation?.fold ?? -1])
        const stored = await env.BUCKET.get(scratch.fold(first.sample, method.name, fold))
        expect(stored, `${method.name} fold ${fold}`).not.toBeNull()
        const result = (await stored!.json()) as FoldPreloads
        // Trace i is held out in fold i mod 5: fold 0 holds out traces 0 and 5.
        expect(result.traces).toEqual(fold === 0 ? [0, 5] : [fold])
        expect(result.rows).toEqual(['native', 'file-level', 'image', 'current', 'ideal'])
      }
    }
    // After each step, the next (method, fold); the last method's fold 5 means "decide".
    expect(ORDER_METHODS).toHaveLength(3)
    expect(positions).toEqual([
      [0, 1],
      [0, 2],
      [0, 3],
      [0, 4],
      [1, 0],
      [1, 1],
      [1, 2],
      [1, 3],
      [1, 4],
      [2, 0],
      [2, 1],
      [2, 2],
      [2, 3],
      [2, 4],
      [2, 5],
    ])
    // The trace list and one object per method and fold.
    expect(await allKeys(`${scratch.prefix}evaluation/`)).toHaveLength(1 + 3 * 5)

    expect(cursorOf(await stepTask(taskName)).stage).toBe('prepare')
    await driveTask(taskName)
    const [run] = await runRow(taskName)
    expect(run.deployed).toBe(true)
    expect(JSON.parse(run.qualityAfter as string)).toMatchObject({
      row: 'image',
      traces: 6,
      folds: 5,
    })
    expect(await allKeys(scratch.prefix)).toEqual([])
  }, 90_000)

  it('measures the methods a run saved before they existed, then decides', async () => {
    const app = await trainedApp(6)
    const taskName = await stagedMkdxf(app)
    const scratch = scratchKeys(app.orgId, app.appId, app.buildId, taskName)
    let cursor = cursorOf(await stepTask(taskName))
    while (cursor.stage === 'evaluate' && (cursor.evaluation?.method ?? 0) < 2) {
      cursor = cursorOf(await stepTask(taskName))
    }
    // As a version with two methods left it after its last fold: "decide" for that version.
    const saved = { ...cursor, evaluation: { ...cursor.evaluation!, method: 1, fold: 5 } }
    await dbOf(env)
      .update(tasks)
      .set({ cursor: JSON.stringify(saved) })
      .where(eq(tasks.id, taskName))

    const next = cursorOf(await stepTask(taskName))
    expect(next.evaluation).toMatchObject({ method: 2, fold: 1 })
    const sample = saved.evaluation.sample
    expect(await env.BUCKET.get(scratch.fold(sample, 'typical', 0))).not.toBeNull()
    await driveTask(taskName)
    const [run] = await runRow(taskName)
    expect(run.deployed).toBe(true)
    expect(JSON.parse(run.qualityAfter as string)).toMatchObject({ traces: 6, folds: 5 })
  }, 90_000)

  it('records one run with the same figures when every evaluation step is delivered twice', async () => {
    const once = await trainedApp(6)
    const twice = await trainedApp(6)
    const onceTask = await stagedMkdxf(once)
    await driveTask(onceTask)

    const twiceTask = await stagedMkdxf(twice)
    const stageOf = (outcome: StepOutcome) =>
      outcome.kind === 'done' ? 'done' : (outcome.cursor as unknown as Cursor).stage
    let stage = stageOf(await stepTask(twiceTask))
    let evaluationSteps = 0
    while (stage === 'evaluate') {
      stage = stageOf(await stepTask(twiceTask, { twice: true }))
      evaluationSteps++
    }
    // The start, five folds of each method and the decision, each run twice before its
    // outcome was saved (these sessions tie, so the first method wins: no step to reorder).
    expect(evaluationSteps).toBe(2 + 5 * ORDER_METHODS.length)
    expect(stage).toBe('prepare')
    await driveTask(twiceTask)

    const [onceRun] = await runRow(onceTask)
    const twiceRuns = await runRow(twiceTask)
    expect(twiceRuns).toHaveLength(1)
    const [twiceRun] = twiceRuns
    expect(twiceRun.deployed).toBe(true)
    expect(twiceRun.reason).toBe(onceRun.reason)
    expect(JSON.parse(twiceRun.qualityBefore as string)).toEqual(
      JSON.parse(onceRun.qualityBefore as string),
    )
    expect(JSON.parse(twiceRun.qualityAfter as string)).toEqual(
      JSON.parse(onceRun.qualityAfter as string),
    )
    expect(JSON.parse(twiceRun.qualityAfter as string).traces).toBe(6)
  }, 120_000)
})

/**
 * An app of 20 played sessions and 2 that each read a block nobody else reads (under a tenth
 * of 22 sessions, so the methods order those blocks differently), and a run of it evaluated
 * with method `winner`'s figures made to win, driven to its end.
 */
async function runWonBy(winner: number): Promise<{ app: TrainingApp; taskName: string }> {
  const app = await trainedApp(20)
  for (const offset of [13, 14]) {
    const reads: TraceRead[] = [
      [0, 'game/boot.bin', 0, 2 * BLOCK],
      [3, 'game/data/b.pak', offset * BLOCK, BLOCK],
    ]
    expect((await uploadTrace(app, traceFile(reads))).status).toBe(202)
  }
  await eventually('traces counted', async () =>
    (await figuresOf(app)).nTraces === 22 ? true : undefined,
  )
  const taskName = await stagedMkdxf(app)
  const scratch = scratchKeys(app.orgId, app.appId, app.buildId, taskName)
  let cursor = cursorOf(await stepTask(taskName))
  while (cursor.stage === 'evaluate' && (cursor.evaluation?.fold ?? 0) < 5) {
    cursor = cursorOf(await stepTask(taskName))
  }
  const evaluation = cursor.evaluation as EvaluationCursor
  expect(evaluation).toMatchObject({ traces: 22, method: ORDER_METHODS.length - 1, fold: 5 })

  // Make the winner's image row measure better, as if its order served the folds sooner.
  const method = ORDER_METHODS[winner]
  for (let fold = 0; fold < 5; fold++) {
    const key = scratch.fold(evaluation.sample, method.name, fold)
    const result = (await (await env.BUCKET.get(key))!.json()) as FoldPreloads
    const image = result.rows.indexOf('image')
    const width = result.rows.length * result.mbits.length
    const preload = result.preload.map((bytes, at) =>
      Math.floor((at % width) / result.mbits.length) === image ? 0 : bytes,
    )
    await env.BUCKET.put(key, JSON.stringify({ ...result, preload }))
  }

  const decided = cursorOf(await stepTask(taskName))
  expect(decided.stage).toBe('evaluate')
  expect(decided.evaluation?.decided).toMatchObject({
    method: winner,
    decision: { deploy: true },
  })
  expect(cursorOf(await stepTask(taskName)).stage).toBe('prepare')
  await driveTask(taskName)
  return { app, taskName }
}

describe('mkdxf compares with the published image on traces it was not trained on', () => {
  /** Sessions that read block `offset` of b.pak early, which the published image put late. */
  async function uploadDrifted(app: TrainingApp, count: number, from: number) {
    for (let i = 0; i < count; i++) {
      const reads: TraceRead[] = [
        [0, 'game/boot.bin', 0, 2 * BLOCK],
        [1, 'game/data/b.pak', 10 * BLOCK, BLOCK],
        [5, 'game/data/late.pak', 0, 12 * BLOCK],
        [60_000 + from + i, 'game/data/a.pak', 0, 4 * BLOCK],
      ]
      expect((await uploadTrace(app, traceFile(reads))).status).toBe(202)
    }
    await eventually('traces counted', async () =>
      (await figuresOf(app)).nTraces === from + count ? true : undefined,
    )
  }

  async function publishedRun(app: TrainingApp) {
    const first = await stagedMkdxf(app)
    await driveTask(first)
    expect((await runRow(first))[0].deployed).toBe(true)
    return first
  }

  /** The run submitted after a published one and `count` new sessions, not started yet. */
  async function secondRun(count: number) {
    const app = await trainedApp(6)
    await publishedRun(app)
    await uploadDrifted(app, count, 6)
    return stagedMkdxf(app)
  }

  /** The run after a published one and `count` new sessions. */
  async function runAfterPublished(count: number) {
    const second = await secondRun(count)
    await driveTask(second)
    const [run] = await runRow(second)
    return run
  }

  it('decides on the traces newer than the published image when there are enough', async () => {
    const run = await runAfterPublished(12)
    // The 12 new traces alone: the published image never saw them.
    expect(JSON.parse(run.qualityBefore as string)).toMatchObject({ row: 'current', traces: 12 })
    expect(JSON.parse(run.qualityAfter as string)).toMatchObject({ row: 'image', traces: 12 })
    expect(run.reason).toContain('on the 12 traces newer than the current image')
    expect(run.deployed).toBe(true)
  }, 120_000)

  it('decides on every trace while fewer than 10 are newer than the published image', async () => {
    const run = await runAfterPublished(4)
    expect(JSON.parse(run.qualityBefore as string)).toMatchObject({ traces: 10 })
    expect(run.reason).not.toContain('newer than the current image')
  }, 120_000)

  it('keeps to the newer traces when every step of the run is delivered twice', async () => {
    const second = await secondRun(12)
    await driveTask(second, { twice: true })
    const runs = await runRow(second)
    expect(runs).toHaveLength(1)
    expect(JSON.parse(runs[0].qualityBefore as string)).toMatchObject({ traces: 12 })
    expect(runs[0].reason).toContain('on the 12 traces newer than the current image')
    expect(runs[0].deployed).toBe(true)
  }, 120_000)

  it('decides on every trace for a run saved before it counted the newer ones', async () => {
    const second = await secondRun(12)
    let started = cursorOf(await stepTask(second))
    while (!started.evaluation) started = cursorOf(await stepTask(second))
    expect(started.evaluation).toMatchObject({ traces: 18, fresh: 12 })
    // As a version that did not count them left the cursor.
    const { fresh: _fresh, ...evaluation } = started.evaluation!
    await dbOf(env)
      .update(tasks)
      .set({ cursor: JSON.stringify({ ...started, evaluation }) })
      .where(eq(tasks.id, second))
    await driveTask(second)
    const [run] = await runRow(second)
    expect(JSON.parse(run.qualityBefore as string)).toMatchObject({ traces: 18 })
    expect(run.reason).not.toContain('newer than the current image')
  }, 120_000)
})

describe('mkdxf picks the order method that cross-validates best for the app', () => {
  it('orders the candidate again when another method wins, and publishes that order', async () => {
    const { app, taskName } = await runWonBy(1)
    const second = ORDER_METHODS[1]

    const [run] = await runRow(taskName)
    expect(run.deployed).toBe(true)
    expect(run.reason).toBe(
      `better: median preload at 100 Mbit/s 0.00 MiB instead of ${(
        JSON.parse(run.qualityBefore as string).bandwidths[1].median.bytes / 2 ** 20
      ).toFixed(2)} MiB; order: ${second.label}`,
    )
    // The published image is in the second method's order of the build's statistics.
    const model = await loadBuildModel(env, { ...app, blockSize: BLOCK })
    const stored = await loadStats(env, app)
    const expected = orderFromStats(model, stored!.stats, {
      untraced: 'last',
      needShare: second.needShare,
    })
    const first = orderFromStats(model, stored!.stats, { untraced: 'last' })
    expect([...expected]).not.toEqual([...first])
    const dxfName = `dxf-${buildIdText(app.buildId)}-02`
    const header = await readImageHeader(imageKeys(app.orgId, app.appId, dxfName).image)
    expect([...header.order]).toEqual([...expected])
    expect((await runRow(taskName))[0].method).toBe(second.name)
    const detail = await call('GET', `/be/v1/trainings/${app.name}`, { headers: org.headers })
    expect(detail.body.training.runs[0]).toMatchObject({ taskName, method: second.name })

    // The app's next build starts from the method its training chose: its first image is the
    // inherited statistics in the second method's order, not the first's.
    expect((await appOrderMethod(env, app.appId)).name).toBe(second.name)
    const next = await importBuild(app, gameEntries())
    const nextModel = await loadBuildModel(env, { ...app, ...next, blockSize: BLOCK })
    const inherited = await inheritedStats(env, app, app.buildId, {
      buildId: next.buildId,
      model: nextModel,
    })
    const carried = orderFromStats(nextModel, inherited!, {
      untraced: 'last',
      needShare: second.needShare,
    })
    expect([...carried]).not.toEqual([
      ...orderFromStats(nextModel, inherited!, { untraced: 'last' }),
    ])
    const nextHeader = await readImageHeader(
      imageKeys(app.orgId, app.appId, `dxf-${buildIdText(next.buildId)}-01`).image,
    )
    expect([...nextHeader.order]).toEqual([...carried])
  }, 120_000)

  it('publishes the typical sessions first when that method wins', async () => {
    const { app, taskName } = await runWonBy(2)
    const typical = ORDER_METHODS[2]
    expect(typical.name).toBe('typical')
    const [run] = await runRow(taskName)
    expect(run).toMatchObject({ deployed: true, method: 'typical' })
    expect(run.reason).toContain(`order: ${typical.label}`)

    // The image is the statistics' order with the typical half of the run's 22 traces first.
    const model = await loadBuildModel(env, { ...app, blockSize: BLOCK })
    const stored = await loadStats(env, app)
    const keys = await newestTraceKeys(env, app)
    expect(keys).toHaveLength(22)
    const byTenth = orderFromStats(model, stored!.stats, { untraced: 'last' })
    const need = await typicalNeed(model, stored!.stats, storedTraces(env, keys), 0.5)
    const expected = withTypicalHead(byTenth.slice(), need, stored!.stats)
    expect([...expected]).not.toEqual([...byTenth])
    const header = await readImageHeader(
      imageKeys(app.orgId, app.appId, `dxf-${buildIdText(app.buildId)}-02`).image,
    )
    expect([...header.order]).toEqual([...expected])
  }, 120_000)
})
