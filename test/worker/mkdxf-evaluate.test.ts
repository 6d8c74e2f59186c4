import { env } from 'cloudflare:workers'
import { eq } from 'drizzle-orm'
import { beforeAll, describe, expect, it } from 'vitest'
import { dbOf } from '../../src/db/client'
import { trainingRuns } from '../../src/db/schema'
import type { EvaluationCursor } from '../../src/domain/training/mkdxf/evaluate'
import { scratchKeys } from '../../src/domain/training/mkdxf/run-job'
import type { FoldPreloads } from '../../src/engine/cross-validate'
import { buildIdText } from '../../src/storage/keys'
import { submitTask } from '../../src/tasks/service'
import type { StepOutcome } from '../../src/tasks/types'
import { allKeys, driveTask, stepTask } from './build-fixtures'
import { newOrg, type OrgFixture } from './fixtures'
import {
  appWithBuild,
  eventually,
  figuresOf,
  playedSession,
  type TrainingApp,
  traceFile,
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
  for (let i = 0; i < count; i++) {
    expect((await uploadTrace(app, traceFile(playedSession(i)))).status).toBe(202)
  }
  await eventually('traces counted', async () =>
    (await figuresOf(app)).nTraces === count ? true : undefined,
  )
  return app
}

function submitRun(app: TrainingApp): Promise<string> {
  return submitTask(env, {
    type: 'mkdxf',
    orgId: app.orgId,
    appId: app.appId,
    appName: app.name,
    buildName: app.buildName,
    params: {
      orgName: org.orgName,
      buildId: app.buildId,
      dxfName: `dxf-${buildIdText(app.buildId)}-01`,
      manual: true,
    },
    start: false,
  })
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
    const taskName = await submitRun(app)
    const scratch = scratchKeys(app.orgId, app.appId, app.buildId, taskName)

    expect(cursorOf(await stepTask(taskName))).toMatchObject({ stage: 'evaluate' })

    const first = cursorOf(await stepTask(taskName)).evaluation as EvaluationCursor
    expect(first).toMatchObject({ traces: 6, folds: 5, fold: 0 })
    // A session arriving now is not measured by this run: every step reads the same list.
    expect((await uploadTrace(app, traceFile(playedSession(6)))).status).toBe(202)

    const folds: number[] = []
    for (let fold = 0; fold < 5; fold++) {
      const cursor = cursorOf(await stepTask(taskName))
      expect(cursor.stage).toBe('evaluate')
      folds.push(cursor.evaluation?.fold ?? -1)
      const stored = await env.BUCKET.get(scratch.fold(first.sample, fold))
      expect(stored, `fold ${fold}`).not.toBeNull()
      const result = (await stored!.json()) as FoldPreloads
      // Trace i is held out in fold i mod 5: fold 0 holds out traces 0 and 5.
      expect(result.traces).toEqual(fold === 0 ? [0, 5] : [fold])
      expect(result.rows).toEqual(['native', 'file-level', 'image', 'current', 'ideal'])
    }
    expect(folds).toEqual([1, 2, 3, 4, 5])
    expect(await allKeys(`${scratch.prefix}evaluation/`)).toHaveLength(6)

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

  it('records one run with the same figures when every evaluation step is delivered twice', async () => {
    const once = await trainedApp(6)
    const twice = await trainedApp(6)
    const onceTask = await submitRun(once)
    await driveTask(onceTask)

    const twiceTask = await submitRun(twice)
    const stageOf = (outcome: StepOutcome) =>
      outcome.kind === 'done' ? 'done' : (outcome.cursor as unknown as Cursor).stage
    let stage = stageOf(await stepTask(twiceTask))
    let evaluationSteps = 0
    while (stage === 'evaluate') {
      stage = stageOf(await stepTask(twiceTask, { twice: true }))
      evaluationSteps++
    }
    // The start, five folds and the decision, each run twice before its outcome was saved.
    expect(evaluationSteps).toBe(7)
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
