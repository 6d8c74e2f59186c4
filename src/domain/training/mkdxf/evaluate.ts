/**
 * Second step of a run, spread over bounded queue steps: the candidate is measured against
 * the image now published by k-fold cross-validation on the newest traces of the build, then
 * the run decides.
 * - start: a candidate equal to the current order is "not better" at once. Otherwise the
 *   traces are listed in a scratch object named by its content, so every later step measures
 *   the same traces whatever arrives meanwhile; the cursor keeps only that name, the counts
 *   and the current image's name.
 * - one step per fold and order method (ORDER_METHODS): the other folds' statistics, the
 *   method's order built from them (`typical` reads up to 64 of those traces twice more), and
 *   the P* of the fold's held-out traces on each row, kept in a scratch object of that method
 *   and fold.
 * - decide: each method's folds make a report; the method whose row `image` has the smallest
 *   median P* at 100 Mbit/s (the first on a tie) is the app's, and its report is the one the run
 *   decides on. When the candidate wins, its load profile is measured on the same traces; when
 *   the winning method is not the one the plan ordered by, a step of its own orders the
 *   candidate again first.
 * A step run twice writes the same objects again and the report takes each fold once, so a
 * redelivered message counts nothing twice. Memory at 1.6 M blocks, measured by
 * scripts/bench/engine-memory-mkdxf.ts (docs/training.md, section 9): a fold step 87 to 119
 * MB in use, most of it while the fold's order is sorted; the decide step about 29 MB.
 */

import { modelIndex } from '../../../engine/build-model'
import {
  crossValidateFold,
  type FoldPreloads,
  foldsReport,
  statsOrderBuilder,
} from '../../../engine/cross-validate'
import type { QualityReport } from '../../../engine/evaluate'
import { ORDER_METHODS } from '../../../engine/order'
import { type LoadProfile, loadProfile } from '../../../engine/profile'
import { decodeBlockList } from '../../builds/mkraw/block-geometry'
import { loadBuildModel, loadImageOrder } from '../build-store'
import { decide, imageMedian, type RunDecision } from './decide'
import { decisionFromTrace, freshTraceCount } from './fresh-traces'
import { type RunPlan, reorderCandidate } from './plan'
import type { RunJob } from './run-job'
import { newestTraceRows, storedTraces } from './trace-sample'

/** Folds of the cross-validation (fewer when there are fewer traces). */
export const FOLDS = 5

/** Where an evaluation stands; kept in the task's cursor, so small (no per-trace data). */
export interface EvaluationCursor {
  /** Content id of the scratch list of the traces measured. */
  sample: string
  traces: number
  folds: number
  /** The published image measured against (row `current`). */
  current: string
  /**
   * Traces at the end of the list that arrived after `current` was made (fresh-traces.ts);
   * absent in cursors saved before it was kept, or when the image was not found.
   */
  fresh?: number
  /** The method (index into ORDER_METHODS) and fold measured next. */
  method?: number
  /** The next fold to measure; `folds` once every fold is measured: then the run decides. */
  fold: number
  /** The decision, once taken for a method the candidate must be ordered by again. */
  decided?: { decision: RunDecision; method: number }
}

/** What one evaluation step leads to. */
export type EvaluationStep =
  /** More to do; `done` is the share of the evaluation's steps done (0 to 1). */
  | { kind: 'continue'; evaluation: EvaluationCursor; done: number }
  | { kind: 'measured'; decision: RunDecision; profile?: LoadProfile }
  | { kind: 'skipped'; reason: string }

function sameOrder(a: Uint32Array, b: Uint32Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

function modelOf(job: RunJob) {
  const owner = { orgId: job.orgId, appId: job.app.id, buildId: job.buildId }
  return loadBuildModel(job.env, { ...owner, blockSize: job.build.blockSize })
}

async function candidateOrder(job: RunJob): Promise<Uint32Array> {
  const object = await job.env.BUCKET.get(job.scratch.candidate)
  if (!object) throw new Error('the candidate order of this run is missing')
  return decodeBlockList(new Uint8Array(await object.arrayBuffer()))
}

async function currentOrder(job: RunJob, dxfName: string): Promise<Uint32Array> {
  return (await loadImageOrder(job.env, job.orgId, job.app.id, dxfName)).order
}

async function contentId(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))
  return [...new Uint8Array(digest).subarray(0, 8)]
    .map((byte) => byte.toString(16).padStart(2, '0'))
    .join('')
}

async function readJson<T>(job: RunJob, key: string, what: string): Promise<T> {
  const object = await job.env.BUCKET.get(key)
  // Scratch objects of a running run are only removed when it ends: retrying is right.
  if (!object) throw new Error(`${what} of this run is missing`)
  return (await object.json()) as T
}

async function traceKeys(job: RunJob, at: EvaluationCursor): Promise<string[]> {
  const keys = await readJson<string[]>(job, job.scratch.sample(at.sample), 'the trace list')
  if (!Array.isArray(keys) || keys.length !== at.traces) {
    throw new Error(`the trace list of this run has ${keys?.length} traces, not ${at.traces}`)
  }
  return keys
}

/** Lists the traces to measure, or says why there is nothing to measure. */
async function startEvaluation(job: RunJob): Promise<EvaluationStep> {
  const current = job.app.dxfName
  if (job.app.iCurBuild !== job.buildId || !current) {
    return { kind: 'skipped', reason: `build ${job.buildId} is no longer the current build` }
  }
  if (sameOrder(await candidateOrder(job), await currentOrder(job, current))) {
    return { kind: 'skipped', reason: 'not better: the candidate order is the current order' }
  }
  const rows = await newestTraceRows(job.env, { appId: job.app.id, buildId: job.buildId })
  const keys = rows.map((row) => row.normKey)
  if (keys.length < 2) {
    return {
      kind: 'skipped',
      reason: `cannot measure: cross-validation needs 2 traces of build ${job.buildId}, it has ${keys.length}`,
    }
  }
  const list = JSON.stringify(keys)
  const sample = await contentId(list)
  await job.env.BUCKET.put(job.scratch.sample(sample), list)
  const folds = Math.min(FOLDS, keys.length)
  const fresh = await freshTraceCount(
    job,
    current,
    rows.map((row) => row.created),
  )
  return {
    kind: 'continue',
    evaluation: { sample, traces: keys.length, folds, current, method: 0, fold: 0, fresh },
    done: 1 / (ORDER_METHODS.length * folds + 2),
  }
}

/** Measures fold `at.fold` and keeps its P* in a scratch object. */
async function measureFold(job: RunJob, plan: RunPlan, at: EvaluationCursor) {
  const keys = await traceKeys(job, at)
  const model = await modelOf(job)
  const current = await currentOrder(job, at.current)
  const methodIndex = at.method ?? 0
  const method = ORDER_METHODS[methodIndex]
  const { needShare, typicalShare } = method
  const builder = statsOrderBuilder(model, { untraced: plan.untraced, needShare, typicalShare })
  const traces = storedTraces(job.env, keys)
  const result = await crossValidateFold(model, traces, at.folds, at.fold, builder, { current })
  await job.env.BUCKET.put(
    job.scratch.fold(at.sample, method.name, at.fold),
    JSON.stringify(result),
  )
  const last = at.fold + 1 === at.folds && methodIndex + 1 < ORDER_METHODS.length
  const evaluation = last
    ? { ...at, method: methodIndex + 1, fold: 0 }
    : { ...at, method: methodIndex, fold: at.fold + 1 }
  const measured = methodIndex * at.folds + at.fold + 1
  return { kind: 'continue' as const, evaluation, done: (measured + 1) / stepsOf(at) }
}

/** Steps of an evaluation: the start, one per method and fold, and the decision. */
function stepsOf(at: EvaluationCursor): number {
  return ORDER_METHODS.length * at.folds + 2
}

/** Each method's folds kept in scratch, and its report over every trace. */
async function methodReports(job: RunJob, at: EvaluationCursor, imageBytes: number) {
  const reports: QualityReport[] = []
  const folds: FoldPreloads[][] = []
  for (const method of ORDER_METHODS) {
    const results: FoldPreloads[] = []
    for (let fold = 0; fold < at.folds; fold++) {
      const key = job.scratch.fold(at.sample, method.name, fold)
      results.push(await readJson<FoldPreloads>(job, key, `the P* of fold ${fold}`))
    }
    const report = foldsReport(imageBytes, results)
    if (report.traces !== at.traces) {
      throw new Error(`the folds measured ${report.traces} traces, not ${at.traces}`)
    }
    reports.push(report)
    folds.push(results)
  }
  return { reports, folds }
}

/** Index of the report whose row `image` has the smallest median at the decision's bandwidth. */
function bestMethod(reports: QualityReport[]): number {
  let best = 0
  for (let index = 1; index < reports.length; index++) {
    if (imageMedian(reports[index]) < imageMedian(reports[best])) best = index
  }
  return best
}

/**
 * Puts each method's folds together, picks the app's method and decides; measures the load
 * profile of a winner ordered as the plan did, or hands a winner of another method on to be
 * ordered again first.
 */
async function decideRun(job: RunJob, at: EvaluationCursor): Promise<EvaluationStep> {
  const model = await modelOf(job)
  const imageBytes = modelIndex(model).totalBytes
  const { reports, folds } = await methodReports(job, at, imageBytes)
  // The method is chosen on every trace; the candidate and the published image are compared
  // on the traces the published image was not trained on, when there are enough of them.
  const method = bestMethod(reports)
  const fromTrace = decisionFromTrace(at.traces, at.fresh)
  const report =
    fromTrace === 0 ? reports[method] : foldsReport(imageBytes, folds[method], { fromTrace })
  const scope =
    fromTrace === 0 ? undefined : `the ${at.traces - fromTrace} traces newer than the current image`
  const decision = decide(report, at.folds, ORDER_METHODS[method], scope)
  if (!decision.deploy) return { kind: 'measured', decision }
  if (method !== 0) {
    const evaluation = { ...at, decided: { decision, method } }
    return { kind: 'continue', evaluation, done: (stepsOf(at) - 0.5) / stepsOf(at) }
  }
  const traces = storedTraces(job.env, await traceKeys(job, at))
  const profile = await loadProfile(model, await candidateOrder(job), traces)
  return { kind: 'measured', decision, profile }
}

/** Orders the candidate by the winning method and measures its load profile. */
async function reorderWinner(
  job: RunJob,
  plan: RunPlan,
  at: EvaluationCursor,
  decided: NonNullable<EvaluationCursor['decided']>,
): Promise<EvaluationStep> {
  const traces = storedTraces(job.env, await traceKeys(job, at))
  await reorderCandidate(job, plan, ORDER_METHODS[decided.method], traces)
  const model = await modelOf(job)
  const profile = await loadProfile(model, await candidateOrder(job), traces)
  return { kind: 'measured', decision: decided.decision, profile }
}

/**
 * One step of the evaluation of `plan`'s candidate: the start (no cursor yet), a fold, or
 * the decision once every fold is measured.
 */
export async function evaluateStep(
  job: RunJob,
  plan: RunPlan,
  at?: EvaluationCursor,
): Promise<EvaluationStep> {
  if (!at) return startEvaluation(job)
  if (at.decided) return reorderWinner(job, plan, at, at.decided)
  if (at.fold < at.folds) return measureFold(job, plan, at)
  // A cursor saved by a version with fewer methods ends after its last method's folds: the
  // methods added since are measured before the run decides.
  const method = at.method ?? 0
  if (method + 1 < ORDER_METHODS.length) {
    return measureFold(job, plan, { ...at, method: method + 1, fold: 0 })
  }
  return decideRun(job, at)
}
