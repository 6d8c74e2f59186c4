/**
 * First step of a run: the candidate order from the build's aggregate statistics, kept in a
 * scratch object for the next steps, and the name the new image would get. Memory at 1.6 M
 * blocks, measured by scripts/bench/engine-memory-mkdxf.ts: about 90 MB (the statistics, 24
 * bytes per block, read once into a buffer of their size; the model, 8; the order's keys and
 * sort, about 19).
 */
import { type BlockStats, coverage, decodeStats } from '../../../engine/block-stats'
import { ORDER_METHODS, type OrderMethod, orderFromStats } from '../../../engine/order'
import type { TraceSource } from '../../../engine/trace-source'
import { orderWithTypical } from '../../../engine/typical'
import { appPrefix, buildIdText, dxfNameOf, statsKey } from '../../../storage/keys'
import { parseTraining } from '../../apps/training-settings'
import { encodeBlockList } from '../../builds/mkraw/block-geometry'
import { loadBuildModel } from '../build-store'
import type { RunJob } from './run-job'

/** What the plan hands to the following steps. */
export interface RunPlan {
  /** Name of the image the run would publish. */
  dxfName: string
  /** Traces in the statistics the candidate was ordered by. */
  nTraces: number
  coverage: number
  untraced: 'first' | 'last'
}

/** A run that ends before measuring anything, and why. */
export interface RunSkipped {
  skip: string
  nTraces: number
  coverage: number
}

/** Image numbers of a build already used in R2 or on the build row; the next is one more. */
async function nextImageName(job: RunJob): Promise<string> {
  const stem = `${appPrefix(job.orgId, job.app.id)}images/dxf-${buildIdText(job.buildId)}-`
  let highest = 1
  let cursor: string | undefined
  do {
    const listed = await job.env.BUCKET.list({ prefix: stem, delimiter: '/', cursor })
    for (const prefix of listed.delimitedPrefixes) {
      const n = Number(prefix.slice(stem.length, -1))
      if (Number.isInteger(n)) highest = Math.max(highest, n)
    }
    cursor = listed.truncated ? listed.cursor : undefined
  } while (cursor)
  for (const name of [job.build.dxfName, job.app.dxfName]) {
    const match = name?.match(/^dxf-(\d{4,})-(\d+)$/)
    if (match && Number(match[1]) === job.buildId) highest = Math.max(highest, Number(match[2]))
  }
  return dxfNameOf(job.buildId, highest + 1)
}

/**
 * The build's statistics, read into one buffer of the object's size: a body read whole may
 * be held twice for a moment (its chunks and their copy), 38 MB more at 1.6 M blocks.
 */
async function loadStatsOnce(job: RunJob): Promise<BlockStats | null> {
  const object = await job.env.BUCKET.get(statsKey(job.orgId, job.app.id, job.buildId))
  if (!object) return null
  const bytes = new Uint8Array(object.size)
  let at = 0
  const reader = object.body.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    if (at + value.length > bytes.length) throw new Error('the statistics outgrew their size')
    bytes.set(value, at)
    at += value.length
  }
  if (at !== bytes.length) throw new Error('the statistics were cut short')
  return decodeStats(bytes)
}

/**
 * Orders the candidate again by `method` and stores it in place of the plan's, when
 * cross-validation found that method better for this app. A method with `typicalShare` picks
 * its typical sessions from `traces`, the traces the run measured. Memory as the plan step's,
 * plus 4 bytes per block for the typical sessions' need times.
 */
export async function reorderCandidate(
  job: RunJob,
  plan: RunPlan,
  method: OrderMethod,
  traces: TraceSource,
): Promise<void> {
  const owner = { orgId: job.orgId, appId: job.app.id, buildId: job.buildId }
  const model = await loadBuildModel(job.env, { ...owner, blockSize: job.build.blockSize })
  const stats = await loadStatsOnce(job)
  if (!stats) throw new Error(`the statistics of build ${job.buildId} are missing`)
  const { needShare, typicalShare } = method
  const opts = { untraced: plan.untraced, needShare, typicalShare }
  const order = await orderWithTypical(model, stats, opts, traces)
  await job.env.BUCKET.put(job.scratch.candidate, encodeBlockList(order))
}

/** Orders the candidate and stores it; or says why there is nothing to train. */
export async function planRun(job: RunJob): Promise<RunPlan | RunSkipped> {
  if (job.app.iCurBuild !== job.buildId || !job.app.dxfName) {
    return { skip: `build ${job.buildId} is no longer the current build`, nTraces: 0, coverage: 0 }
  }
  const owner = { orgId: job.orgId, appId: job.app.id, buildId: job.buildId }
  const model = await loadBuildModel(job.env, { ...owner, blockSize: job.build.blockSize })
  const stats = await loadStatsOnce(job)
  if (!stats || stats.nTraces === 0) {
    return { skip: `no trace of build ${job.buildId} counted yet`, nTraces: 0, coverage: 0 }
  }
  const reliable = stats.nTraces >= parseTraining(job.app.training).nTracesReliable
  const untraced = reliable ? 'last' : 'first'
  const covered = coverage(model, stats)
  // The first method: evaluation may find another better and order again (reorderCandidate).
  const candidate = orderFromStats(model, stats, {
    untraced,
    needShare: ORDER_METHODS[0].needShare,
  })
  await job.env.BUCKET.put(job.scratch.candidate, encodeBlockList(candidate))
  return { dxfName: await nextImageName(job), nTraces: stats.nTraces, coverage: covered, untraced }
}
