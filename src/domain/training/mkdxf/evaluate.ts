/**
 * Second step of a run: measure the candidate against the image now published by k-fold
 * cross-validation on the newest traces of the build, streamed one at a time, and decide. When
 * the candidate wins, its load profile is measured on the same traces. Memory: the model (8
 * bytes per block), both orders (4 each), the per-fold statistics (24) and block-end tables
 * (8 each for the fold's order, the file-level reference and the current image), plus at most
 * 16 MiB of stored traces: about 70 bytes per block.
 */
import { crossValidate, statsOrderBuilder } from '../../../engine/cross-validate'
import { type LoadProfile, loadProfile } from '../../../engine/profile'
import { decodeBlockList } from '../../builds/mkraw/block-geometry'
import { loadBuildModel, loadImageOrder } from '../build-store'
import { decide, type RunDecision } from './decide'
import type { RunPlan } from './plan'
import type { RunJob } from './run-job'
import { runTraces } from './trace-sample'

/** Folds of the cross-validation (fewer when there are fewer traces). */
export const FOLDS = 5

export type RunEvaluation =
  | { kind: 'measured'; decision: RunDecision; profile?: LoadProfile; tracesRead: number }
  | { kind: 'skipped'; reason: string }

function sameOrder(a: Uint32Array, b: Uint32Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Cross-validates the plan's method against the current image and decides. */
export async function evaluateRun(job: RunJob, plan: RunPlan): Promise<RunEvaluation> {
  const owner = { orgId: job.orgId, appId: job.app.id, buildId: job.buildId }
  const model = await loadBuildModel(job.env, { ...owner, blockSize: job.build.blockSize })
  const { order: current } = await loadImageOrder(
    job.env,
    job.orgId,
    job.app.id,
    job.app.dxfName as string,
  )
  const object = await job.env.BUCKET.get(job.scratch.candidate)
  if (!object) throw new Error('the candidate order of this run is missing')
  const candidate = decodeBlockList(new Uint8Array(await object.arrayBuffer()))
  if (sameOrder(candidate, current)) {
    return { kind: 'skipped', reason: 'not better: the candidate order is the current order' }
  }

  const traces = await runTraces(job.env, { appId: job.app.id, buildId: job.buildId })
  if (traces.count < 2) {
    return {
      kind: 'skipped',
      reason: `cannot measure: cross-validation needs 2 traces of build ${job.buildId}, it has ${traces.count}`,
    }
  }
  const folds = Math.min(FOLDS, traces.count)
  // TODO(#5): past about 1.2 M blocks this step needs more than a Worker's 128 MB; run the
  // folds in steps of their own, keeping the per-trace preloads in a scratch object.
  const report = await crossValidate(
    model,
    traces,
    folds,
    statsOrderBuilder(model, { untraced: plan.untraced }),
    { current },
  )
  const decision = decide(report, folds)
  const profile = decision.deploy ? await loadProfile(model, candidate, traces) : undefined
  return { kind: 'measured', decision, profile, tracesRead: traces.reads }
}
