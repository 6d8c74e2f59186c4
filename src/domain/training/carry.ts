/**
 * Training carried across builds (DESIGN.md): a new build's blocks that match blocks of the
 * previous current build inherit their statistics. `mkraw` orders the new build's first image
 * by them; the coordinator seeds the new build's statistics with them when it becomes current.
 *
 * Memory: both builds' statistics (24 bytes per block each), both block tables (16 bytes per
 * block each) and the engine's hash index (8 to 16 bytes per old block): about 90 bytes per
 * block, so 144 MB for 1.6 M blocks, over a Worker's 128 MB (see docs/training.md).
 */
import { and, eq } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { apps, builds } from '../../db/schema'
import type { BlockStats } from '../../engine/block-stats'
import type { BuildModel } from '../../engine/build-model'
import { orderFromStats } from '../../engine/order'
import { inheritStats } from '../../engine/stats-inherit'
import type { Env } from '../../env'
import { parseTraining } from '../apps/training-settings'
import { loadBlockHashes, loadBuildModel } from './build-store'
import { modelOfBuild } from './fold'
import { loadStats } from './stats-store'

/**
 * The statistics build `to` inherits from build `fromBuildId`, or null when that build has no
 * traces (or is gone).
 */
export async function inheritedStats(
  env: Env,
  app: { orgId: string; appId: string },
  fromBuildId: number,
  to: { buildId: number; model: BuildModel },
): Promise<BlockStats | null> {
  const from = { ...app, buildId: fromBuildId }
  const stored = await loadStats(env, from)
  if (!stored || stored.stats.nTraces === 0) return null
  const fromModel = await modelOfBuild(env, from)
  if (!fromModel) return null
  // TODO(#5): about 90 bytes per block; past 1.4 M blocks this needs more than 128 MB.
  const fromHashes = await loadBlockHashes(env, from)
  const toHashes = await loadBlockHashes(env, { ...app, buildId: to.buildId })
  return inheritStats(fromModel, fromHashes, stored.stats, to.model, toHashes)
}

/**
 * The order of a new build's first image carried from the app's training: the previous
 * current build's statistics inherited by the new build's blocks, ordered as `mkdxf` would
 * (untraced blocks first while fewer than `nTracesReliable` traces exist). Null when there is
 * nothing to carry: the first build, or no traces yet.
 */
export async function carriedTrainingOrder(
  env: Env,
  appId: string,
  buildId: number,
): Promise<Uint32Array | null> {
  const db = dbOf(env)
  const app = await db.select().from(apps).where(eq(apps.id, appId)).get()
  if (!app || app.iCurBuild === null || app.iCurBuild === buildId) return null
  const build = await db
    .select({ blockSize: builds.blockSize })
    .from(builds)
    .where(and(eq(builds.appId, appId), eq(builds.buildId, buildId)))
    .get()
  if (!build) return null

  const owner = { orgId: app.orgId, appId }
  const model = await loadBuildModel(env, { ...owner, buildId, blockSize: build.blockSize })
  const stats = await inheritedStats(env, owner, app.iCurBuild, { buildId, model })
  if (!stats) return null
  const reliable = stats.nTraces >= parseTraining(app.training).nTracesReliable
  return orderFromStats(model, stats, { untraced: reliable ? 'last' : 'first' })
}
