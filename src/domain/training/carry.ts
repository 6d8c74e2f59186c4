/**
 * Training carried across builds (DESIGN.md): a new build's blocks that match blocks of the
 * previous current build inherit their statistics. `mkraw` orders the new build's first image
 * by them; the coordinator seeds the new build's statistics with them when it becomes current.
 *
 * Memory, in two phases over one buffer: first the old build's block table (16 bytes per old
 * block) in the buffer, its hash index (6) and the sources (4 per new block), the new build's
 * table streamed; then the old statistics (24 bytes per old block) read into the same buffer,
 * the sources and the new statistics (24 per new block). Measured at 1.6 M blocks in
 * docs/benchmarks.md ("Memory of patch planning and inheritance").
 */
import { and, eq } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { apps, builds } from '../../db/schema'
import { type BlockStats, decodeStats } from '../../engine/block-stats'
import type { BuildModel } from '../../engine/build-model'
import { orderFromStats } from '../../engine/order'
import { InheritanceMatcher, inheritStatsFrom } from '../../engine/stats-inherit'
import type { Env } from '../../env'
import { buildKeys, statsKey } from '../../storage/keys'
import { parseTraining } from '../apps/training-settings'
import { loadBuildModel, MissingBuildData } from './build-store'
import { modelOfBuild } from './fold'

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
  const statsHead = await env.BUCKET.head(statsKey(app.orgId, app.appId, fromBuildId))
  if (!statsHead || statsHead.customMetadata?.nTraces === '0') return null
  const fromModel = await modelOfBuild(env, from)
  if (!fromModel) return null

  const fromBlocks = await getObject(env, buildKeys(app.orgId, app.appId, fromBuildId).blocks)
  // TODO(#5): at 1.6 M blocks the peak is still about 124 MB live and 137 MB with garbage V8
  // has not collected, models included; writing the new statistics straight into their
  // encoded form and reading the old ones section by section would bring it under 128 MB.
  // One buffer holds A's block table while matching, then A's statistics (see module comment).
  const buffer = new Uint8Array(Math.max(fromBlocks.size, statsHead.size))
  const fromHashes = await readBody(fromBlocks, buffer)
  const matcher = new InheritanceMatcher(fromModel, fromHashes, to.model)
  const toBlocks = await getObject(env, buildKeys(app.orgId, app.appId, to.buildId).blocks)
  await eachChunk(toBlocks, (chunk) => matcher.push(chunk))
  const sources = matcher.finish()

  const statsObject = await env.BUCKET.get(statsKey(app.orgId, app.appId, fromBuildId))
  if (!statsObject) return null
  const stats = decodeStats(await readBody(statsObject, buffer))
  if (stats.nTraces === 0) return null
  return inheritStatsFrom(fromModel, stats, to.model, sources)
}

async function getObject(env: Env, key: string): Promise<R2ObjectBody> {
  const object = await env.BUCKET.get(key)
  if (!object) throw new MissingBuildData(`object ${key} is missing`)
  return object
}

async function eachChunk(object: R2ObjectBody, take: (chunk: Uint8Array) => void) {
  const reader = object.body.getReader()
  for (let read = await reader.read(); !read.done; read = await reader.read()) take(read.value)
}

/** Reads the body of `object` into the start of `into`; answers the bytes read. */
async function readBody(object: R2ObjectBody, into: Uint8Array): Promise<Uint8Array> {
  let length = 0
  await eachChunk(object, (chunk) => {
    if (length + chunk.length > into.length) throw new RangeError(`${object.key} grew`)
    into.set(chunk, length)
    length += chunk.length
  })
  return into.subarray(0, length)
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
