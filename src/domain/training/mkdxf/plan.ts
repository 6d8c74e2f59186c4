/**
 * First step of a run: the candidate order from the build's aggregate statistics, kept in a
 * scratch object for the next steps, and the name the new image would get. Memory: the
 * statistics (24 bytes per block), the model (8) and the order with its sort (16).
 */
import { coverage } from '../../../engine/block-stats'
import { orderFromStats } from '../../../engine/order'
import { appPrefix, buildIdText, dxfNameOf } from '../../../storage/keys'
import { parseTraining } from '../../apps/training-settings'
import { encodeBlockList } from '../../builds/mkraw/block-geometry'
import { loadBuildModel } from '../build-store'
import { loadStats } from '../stats-store'
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

/** Orders the candidate and stores it; or says why there is nothing to train. */
export async function planRun(job: RunJob): Promise<RunPlan | RunSkipped> {
  if (job.app.iCurBuild !== job.buildId || !job.app.dxfName) {
    return { skip: `build ${job.buildId} is no longer the current build`, nTraces: 0, coverage: 0 }
  }
  const owner = { orgId: job.orgId, appId: job.app.id, buildId: job.buildId }
  const model = await loadBuildModel(job.env, { ...owner, blockSize: job.build.blockSize })
  const stored = await loadStats(job.env, owner)
  if (!stored || stored.stats.nTraces === 0) {
    return { skip: `no trace of build ${job.buildId} counted yet`, nTraces: 0, coverage: 0 }
  }
  const { stats } = stored
  const reliable = stats.nTraces >= parseTraining(job.app.training).nTracesReliable
  const untraced = reliable ? 'last' : 'first'
  const candidate = orderFromStats(model, stats, { untraced })
  await job.env.BUCKET.put(job.scratch.candidate, encodeBlockList(candidate))
  return {
    dxfName: await nextImageName(job),
    nTraces: stats.nTraces,
    coverage: coverage(model, stats),
    untraced,
  }
}
