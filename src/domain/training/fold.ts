/**
 * Folding accepted traces into a build's aggregate statistics: load the statistics once, add
 * each trace's normalised form read from R2 one at a time, store once. Memory: the statistics
 * (24 bytes per block), the build model (about 8 bytes per block) and one decoded trace (8
 * bytes per block it touched), whatever the number of traces.
 */
import { and, eq, inArray } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { builds, traces } from '../../db/schema'
import { addTrace, type BlockStats, coverage, emptyStats } from '../../engine/block-stats'
import type { BuildModel } from '../../engine/build-model'
import { decodeNormalisedTrace } from '../../engine/trace-codec'
import type { Env } from '../../env'
import type { Logger } from '../../http/log'
import { loadBuildModel, MissingBuildData } from './build-store'
import { loadStats, type StatsOwner, saveStats } from './stats-store'

/** A trace waiting to be folded, as a fold batch records it. */
export interface FoldItem {
  id: string
  buildId: number
  normKey: string
  durationMs: number
}

/** D1 allows 100 bound parameters per statement. */
const CHUNK = 50

/** The traces among `ids` that exist and were not counted yet. */
export async function uncountedTraces(env: Env, appId: string, ids: string[]): Promise<FoldItem[]> {
  const items: FoldItem[] = []
  for (let i = 0; i < ids.length; i += CHUNK) {
    const rows = await dbOf(env)
      .select({
        id: traces.id,
        buildId: traces.buildId,
        normKey: traces.normKey,
        durationMs: traces.durationMs,
      })
      .from(traces)
      .where(
        and(
          eq(traces.appId, appId),
          inArray(traces.id, ids.slice(i, i + CHUNK)),
          eq(traces.counted, false),
        ),
      )
      .all()
    items.push(...rows)
  }
  return items
}

/** Marks traces counted in D1. */
export async function markCounted(env: Env, ids: string[]): Promise<void> {
  for (let i = 0; i < ids.length; i += CHUNK) {
    await dbOf(env)
      .update(traces)
      .set({ counted: true })
      .where(inArray(traces.id, ids.slice(i, i + CHUNK)))
  }
}

/**
 * A build's model, from its row's block size; null when the build is gone, or going (an
 * eviction deletes its tables before it marks the row `deleted`).
 */
export async function modelOfBuild(env: Env, owner: StatsOwner): Promise<BuildModel | null> {
  const build = await dbOf(env)
    .select({ blockSize: builds.blockSize, state: builds.state })
    .from(builds)
    .where(and(eq(builds.appId, owner.appId), eq(builds.buildId, owner.buildId)))
    .get()
  if (build?.state !== 'ready') return null
  try {
    return await loadBuildModel(env, { ...owner, blockSize: build.blockSize })
  } catch (error) {
    if (error instanceof MissingBuildData) return null
    throw error
  }
}

/** The figures that statistics give: what the coordinator keeps as counters. */
export interface StatsFigures {
  nTraces: number
  traceTimeSec: number
  coverage: number
}

/** Counters of `stats` on `model`. */
export function figuresOf(model: BuildModel, stats: BlockStats): StatsFigures {
  return {
    nTraces: stats.nTraces,
    traceTimeSec: stats.traceTimeMs / 1000,
    coverage: coverage(model, stats),
  }
}

/**
 * Adds `items` (traces of `owner`'s build) to its statistics as batch `seq`. A batch the
 * stored statistics already include is not added again. Returns the figures after the batch,
 * or null when the build is gone (its traces can no longer be counted anywhere).
 */
export async function foldBatch(
  env: Env,
  owner: StatsOwner,
  items: FoldItem[],
  seq: number,
  log: Logger,
): Promise<StatsFigures | null> {
  const model = await modelOfBuild(env, owner)
  if (!model) {
    log.warn('traces of a build that is gone', { buildId: owner.buildId, traces: items.length })
    return null
  }
  const stored = await loadStats(env, owner)
  const stats = stored?.stats ?? emptyStats(model)
  if (stored && stored.foldSeq >= seq) return figuresOf(model, stats)

  for (const item of items) {
    const object = await env.BUCKET.get(item.normKey)
    if (!object) {
      log.warn('normalised trace missing', { traceId: item.id })
      continue
    }
    const trace = decodeNormalisedTrace(new Uint8Array(await object.arrayBuffer()))
    try {
      addTrace(stats, model, trace.firstAccess, item.durationMs)
    } catch (error) {
      log.warn('trace does not fit its build statistics', {
        traceId: item.id,
        error: String(error),
      })
    }
  }
  await saveStats(env, owner, stats, seq)
  return figuresOf(model, stats)
}
