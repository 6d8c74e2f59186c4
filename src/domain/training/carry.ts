/**
 * Training carried across builds (DESIGN.md): a new build's blocks that match blocks of the
 * previous current build inherit their statistics. `mkraw` orders the new build's first image
 * by them; the coordinator seeds the new build's statistics with them when it becomes current.
 *
 * Memory, in two phases over one buffer sized for the larger of the old build's block table
 * (16 bytes per old block) and the new build's encoded statistics (24 bytes per new block):
 * first the old block table in the buffer, its hash index (6 bytes per old block) and the
 * sources (4 per new block), the new build's table streamed; then the new statistics built in
 * their encoded form in the same buffer, from the old statistics read a slice of blocks at a
 * time (about 6 MB), so storing them copies nothing. Measured at 1.6 M blocks in
 * docs/benchmarks.md ("Memory of patch planning and inheritance").
 */
import { and, desc, eq } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { apps, builds, trainingRuns } from '../../db/schema'
import { type BlockStats, encodedStatsBytes } from '../../engine/block-stats'
import type { BuildModel } from '../../engine/build-model'
import { ORDER_METHODS, type OrderMethod, orderFromStats } from '../../engine/order'
import { regionLayout } from '../../engine/regions'
import { InheritanceMatcher, inheritEncodedStats } from '../../engine/stats-inherit'
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
  const statsKeyOld = statsKey(app.orgId, app.appId, fromBuildId)
  const statsHead = await env.BUCKET.head(statsKeyOld)
  if (!statsHead || statsHead.customMetadata?.nTraces === '0') return null
  const fromModel = await modelOfBuild(env, from)
  if (!fromModel) return null

  const statsBytes = encodedStatsBytes(to.model.blockCount, regionLayout(to.model).regionCount)
  const { buffer, sources } = await matchBlocks(
    env,
    app,
    { fromBuildId, fromModel },
    to,
    statsBytes,
  )

  // A fold may store the old statistics again meanwhile: every slice comes from one version.
  for (let attempt = 1; ; attempt++) {
    const etag = attempt === 1 ? statsHead.etag : (await env.BUCKET.head(statsKeyOld))?.etag
    if (etag === undefined) return null
    try {
      const readOld = (offset: number, length: number) =>
        rangeOf(env, statsKeyOld, etag, offset, length)
      const stats = await inheritEncodedStats(fromModel, readOld, to.model, sources, {
        into: buffer,
      })
      return stats.nTraces === 0 ? null : stats
    } catch (error) {
      if (!(error instanceof StatsChanged) || attempt === 3) throw error
    }
  }
}

/**
 * Phase one: the sources of the new build's blocks, and the buffer that held the old block
 * table, at least `minBytes` long. Its own function so that the hash index is garbage once
 * it returns.
 */
async function matchBlocks(
  env: Env,
  app: { orgId: string; appId: string },
  from: { fromBuildId: number; fromModel: BuildModel },
  to: { buildId: number; model: BuildModel },
  minBytes: number,
): Promise<{ buffer: Uint8Array; sources: Int32Array }> {
  const fromBlocks = await getObject(env, buildKeys(app.orgId, app.appId, from.fromBuildId).blocks)
  const buffer = new Uint8Array(Math.max(fromBlocks.size, minBytes))
  const fromHashes = await readBody(fromBlocks, buffer)
  const matcher = new InheritanceMatcher(from.fromModel, fromHashes, to.model)
  const toBlocks = await getObject(env, buildKeys(app.orgId, app.appId, to.buildId).blocks)
  await eachChunk(toBlocks, (chunk) => matcher.push(chunk))
  return { buffer, sources: matcher.finish() }
}

/** The old statistics changed between two reads of one inheritance. */
class StatsChanged extends Error {
  override name = 'StatsChanged'
}

async function rangeOf(
  env: Env,
  key: string,
  etag: string,
  offset: number,
  length: number,
): Promise<Uint8Array> {
  if (length === 0) return new Uint8Array(0)
  const object = await env.BUCKET.get(key, {
    range: { offset, length },
    onlyIf: { etagMatches: etag },
  })
  if (!object) throw new StatsChanged(`${key} is gone`)
  if (!('body' in object)) throw new StatsChanged(`${key} changed while read`)
  return new Uint8Array(await object.arrayBuffer())
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
 * (untraced blocks first while fewer than `nTracesReliable` traces exist), by the order method
 * the app's last published run chose. Null when there is
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
  // A typical head (typical.ts) is picked from traces of the build itself, and a new build
  // has none yet: its first image is the method's order of the inherited statistics alone.
  const method = await appOrderMethod(env, appId)
  return orderFromStats(model, stats, {
    untraced: reliable ? 'last' : 'first',
    needShare: method.needShare,
  })
}

/**
 * The order method the app's training chose last: that of its newest published run, or the
 * first method while none was published (docs/training.md, section 3).
 */
export async function appOrderMethod(env: Env, appId: string): Promise<OrderMethod> {
  const run = await dbOf(env)
    .select({ method: trainingRuns.method })
    .from(trainingRuns)
    .where(and(eq(trainingRuns.appId, appId), eq(trainingRuns.deployed, true)))
    .orderBy(desc(trainingRuns.created), desc(trainingRuns.id))
    .get()
  return ORDER_METHODS.find((method) => method.name === run?.method) ?? ORDER_METHODS[0]
}
