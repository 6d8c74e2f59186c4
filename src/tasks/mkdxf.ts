/**
 * The `mkdxf` task: turns an app's collected traces into an optimised image. Steps in order:
 * plan (the candidate order from the aggregate statistics), evaluate (cross-validated against
 * the published image), and when the candidate wins: prepare, write (bounded multipart steps)
 * and publish (make it current, submit a `deploy`). Every run is recorded, and the app's
 * coordinator is told when it ends so its count of new traces drops by what the run used.
 */
import { coordinatorOf, type RunOutcome } from '../coordinator/app-coordinator'
import { purgePrefix } from '../domain/apps/purge'
import type { Composition } from '../domain/builds/mkraw/composition'
import {
  advancePatches,
  type PatchRun,
  patchRunDone,
  patchRunProgress,
  startPatchRun,
} from '../domain/builds/mkraw/patch-steps'
import { patchBases } from '../domain/builds/mkraw/patches'
import {
  advanceWrite,
  type CompositionWrite,
  writeProgress,
} from '../domain/builds/mkraw/write-composition'
import type { RunDecision } from '../domain/training/mkdxf/decide'
import { type EvaluationCursor, evaluateStep } from '../domain/training/mkdxf/evaluate'
import { prepareImage } from '../domain/training/mkdxf/image-write'
import { runPatchTarget } from '../domain/training/mkdxf/patches'
import { planRun, type RunPlan } from '../domain/training/mkdxf/plan'
import { dropScratch, submitDeploy, switchImage } from '../domain/training/mkdxf/publish'
import { recordRun } from '../domain/training/mkdxf/record'
import { loadRunJob, type RunJob, scratchKeys } from '../domain/training/mkdxf/run-job'
import type { LoadProfile } from '../engine/profile'
import { abortUpload, MiB } from '../storage/multipart'
import type { StepContext, StepOutcome, TaskException, TaskHandler } from './types'

/** Bytes of image a write step composes and uploads unless `params.stepBytes` says. */
export const MKDXF_STEP_BYTES = 64 * MiB

type Won = { plan: RunPlan; decision: RunDecision; profile: LoadProfile }

type MkdxfCursor =
  | { stage: 'evaluate'; plan: RunPlan; evaluation?: EvaluationCursor }
  | ({ stage: 'prepare' } & Won)
  | ({ stage: 'write'; write: CompositionWrite } & Won)
  | ({ stage: 'publish'; image: Composition } & Won)
  | ({ stage: 'patch'; image: Composition } & Won & PatchRun)
  | ({ stage: 'deploy' } & Won)

const next = (cursor: MkdxfCursor, progress: number): StepOutcome => ({
  kind: 'continue',
  cursor: cursor as unknown as Record<string, unknown>,
  progress,
})

interface Ending {
  nTraces: number
  coverage: number
  deployed: boolean
  reason: string
  decision?: RunDecision
  dxfName?: string
  deployTaskName?: string | null
}

async function end(job: RunJob, ending: Ending): Promise<StepOutcome> {
  await recordRun(job.env, {
    appId: job.app.id,
    taskName: job.task.taskName,
    nTraces: ending.nTraces,
    coverage: ending.coverage,
    before: ending.decision?.before,
    after: ending.decision?.after,
    deployed: ending.deployed,
    reason: ending.reason,
    method: ending.decision?.method,
  })
  await dropScratch(job)
  return {
    kind: 'done',
    result: {
      deployed: ending.deployed,
      reason: ending.reason,
      nTraces: ending.nTraces,
      coverage: ending.coverage,
      ...(ending.dxfName ? { dxfName: ending.dxfName } : {}),
      ...(ending.deployTaskName ? { deployTaskName: ending.deployTaskName } : {}),
      ...(ending.decision
        ? { qualityBefore: ending.decision.before, qualityAfter: ending.decision.after }
        : {}),
      ...(ending.decision?.method ? { method: ending.decision.method } : {}),
    },
  }
}

function stepBytesOf(job: RunJob): number {
  const bytes = Number(job.task.params.stepBytes ?? MKDXF_STEP_BYTES)
  return Number.isInteger(bytes) && bytes > 0 ? bytes : MKDXF_STEP_BYTES
}

async function step(ctx: StepContext): Promise<StepOutcome> {
  const job = await loadRunJob(ctx.env, ctx.task)
  const cursor = ctx.task.cursor as MkdxfCursor | null

  if (!cursor) {
    const plan = await planRun(job)
    if ('skip' in plan) return end(job, { ...plan, deployed: false, reason: plan.skip })
    return next({ stage: 'evaluate', plan }, 0.1)
  }

  switch (cursor.stage) {
    case 'evaluate': {
      const { plan } = cursor
      const evaluation = await evaluateStep(job, plan, cursor.evaluation)
      if (evaluation.kind === 'continue') {
        const progress = 0.1 + 0.2 * evaluation.done
        return next({ stage: 'evaluate', plan, evaluation: evaluation.evaluation }, progress)
      }
      const figures = { nTraces: plan.nTraces, coverage: plan.coverage }
      if (evaluation.kind === 'skipped') {
        return end(job, { ...figures, deployed: false, reason: evaluation.reason })
      }
      const { decision, profile } = evaluation
      ctx.log.info('mkdxf measured', { deploy: decision.deploy, reason: decision.reason })
      if (!decision.deploy || !profile) {
        return end(job, { ...figures, deployed: false, reason: decision.reason, decision })
      }
      return next({ stage: 'prepare', plan, decision, profile }, 0.3)
    }
    case 'prepare': {
      const write = await prepareImage(job, cursor.plan.dxfName, cursor.profile)
      return next({ ...cursor, stage: 'write', write }, 0.35)
    }
    case 'write': {
      const write = await advanceWrite(job.env.BUCKET, cursor.write, stepBytesOf(job))
      const progress = 0.35 + 0.6 * writeProgress(write)
      if (write.stage !== 'done') return next({ ...cursor, write }, progress)
      const { plan, decision, profile } = cursor
      return next({ stage: 'publish', plan, decision, profile, image: write.spec }, 0.9)
    }
    case 'publish': {
      const { plan, decision, profile, image } = cursor
      if (!(await switchImage(job, plan.dxfName, profile))) {
        return end(job, {
          nTraces: plan.nTraces,
          coverage: plan.coverage,
          deployed: false,
          reason: `${decision.reason}; not published: build ${job.buildId} is no longer current`,
          decision,
          dxfName: plan.dxfName,
        })
      }
      const run = startPatchRun(await patchBases(job.env, job.app.id, job.buildId))
      return next({ stage: 'patch', plan, decision, profile, image, ...run }, 0.92)
    }
    case 'patch': {
      const { stage, plan, decision, profile, image, ...run } = cursor
      if (patchRunDone(run)) return next({ stage: 'deploy', plan, decision, profile }, 0.98)
      const target = runPatchTarget(job, image)
      const moved = await advancePatches(target, run, stepBytesOf(job), ctx.log)
      const progress = 0.92 + 0.06 * patchRunProgress(moved)
      return next({ stage, plan, decision, profile, image, ...moved }, progress)
    }
    case 'deploy': {
      const { plan, decision } = cursor
      const deployTaskName = await submitDeploy(job, plan.dxfName)
      return end(job, {
        nTraces: plan.nTraces,
        coverage: plan.coverage,
        deployed: true,
        reason: decision.reason,
        decision,
        dxfName: plan.dxfName,
        deployTaskName,
      })
    }
  }
}

async function tellCoordinator(ctx: StepContext, outcome: RunOutcome): Promise<void> {
  const { task, env } = ctx
  const orgName = task.params.orgName
  if (typeof orgName !== 'string' || !task.appName) return
  try {
    await coordinatorOf(env, orgName, task.appName).runFinished(task.taskName, outcome)
  } catch (error) {
    // The coordinator also settles a run by reading its task row on its next alarm.
    ctx.log.warn('coordinator not told that the run ended', { error: String(error) })
  }
}

export const mkdxfTask: TaskHandler = {
  step,
  async onSucceeded(ctx, result) {
    const deployed = typeof result.deployed === 'boolean' ? result.deployed : undefined
    await tellCoordinator(ctx, { succeeded: true, deployed })
  },
  async onFailed(ctx, exception: TaskException) {
    const { env, task } = ctx
    const cursor = task.cursor as Partial<{ plan: RunPlan; write: CompositionWrite }> | null
    await abortUpload(env.BUCKET, cursor?.write?.upload)
    if (task.appId) {
      await recordRun(env, {
        appId: task.appId,
        taskName: task.taskName,
        nTraces: cursor?.plan?.nTraces ?? 0,
        coverage: cursor?.plan?.coverage ?? 0,
        deployed: false,
        reason: `failed: ${exception.message}`,
      })
      const buildId = Number(task.params.buildId)
      if (task.orgId && Number.isInteger(buildId)) {
        await purgePrefix(
          env.BUCKET,
          scratchKeys(task.orgId, task.appId, buildId, task.taskName).prefix,
        )
      }
    }
    await tellCoordinator(ctx, { succeeded: false })
  },
}
