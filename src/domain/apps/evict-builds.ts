/**
 * Keeping `maxBuilds` builds: the oldest ready builds beyond that number go, with their tar and
 * tables, their images, every patch from or to them, and their traces and training statistics
 * (what was learnt from them was carried to the newer build first; docs/training.md section 8).
 * The current build always stays. What was published of them to the org's origins is retired
 * (deleted by the cron 24 h later, as launchers may still be reading it). Each step is safe to
 * repeat, so an eviction cut short is finished by the next one.
 */
import { and, desc, eq, inArray, or } from 'drizzle-orm'
import { coordinatorOf } from '../../coordinator/app-coordinator'
import { dbOf } from '../../db/client'
import { apps, builds, deployments, orgs, patches, traces } from '../../db/schema'
import type { Env } from '../../env'
import type { Logger } from '../../http/log'
import {
  appPrefix,
  buildIdText,
  buildKeys,
  publicImageDir,
  publicPatchDir,
  statsKey,
} from '../../storage/keys'
import { originPath } from '../deployments/origin-of'
import { retireKeys } from '../deployments/retired-files'
import type { AppRow } from './find-app'
import { purgePrefix } from './purge'

type EvictedApp = Pick<AppRow, 'id' | 'orgId' | 'name'>

/**
 * R2 prefix of every image of a build: image names are `dxf-<buildId4>-<n>` (`dxfNameOf`), so
 * the stem `images/dxf-0007-` holds all images of build 7 and nothing of another build.
 */
export function buildImagesPrefix(orgId: string, appId: string, buildId: number): string {
  return `${appPrefix(orgId, appId)}images/dxf-${buildIdText(buildId)}-`
}

/**
 * Retires on every deployment of the org the origin paths of `buildId`'s images (found in R2,
 * so this runs before they are purged) and of the patches from or to it.
 */
async function retirePublished(
  env: Env,
  app: EvictedApp,
  buildId: number,
  patchRows: { fromBuildId: number; toBuildId: number }[],
): Promise<void> {
  const db = dbOf(env)
  const targets = await db
    .select({ id: deployments.id, originPrefix: deployments.originPrefix })
    .from(deployments)
    .where(eq(deployments.orgId, app.orgId))
    .all()
  const org = await db.select({ name: orgs.name }).from(orgs).where(eq(orgs.id, app.orgId)).get()
  if (targets.length === 0 || !org) return

  const imagesRoot = `${appPrefix(app.orgId, app.id)}images/`
  const listed = await env.BUCKET.list({ prefix: buildImagesPrefix(app.orgId, app.id, buildId) })
  const dxfNames = new Set(listed.objects.map((o) => o.key.slice(imagesRoot.length).split('/')[0]))
  const paths = [...dxfNames].flatMap((dxfName) => {
    const dir = publicImageDir(org.name, app.name, buildId, dxfName)
    return [`${dir}image.dxf`, `${dir}profile.json`]
  })
  for (const patch of patchRows) {
    paths.push(`${publicPatchDir(org.name, app.name, patch.toBuildId, patch.fromBuildId)}patch.dxf`)
  }
  for (const target of targets) {
    const keys = paths.map((path) => originPath(target.originPrefix, path))
    await retireKeys(env, app.orgId, target.id, keys)
  }
}

/** Trace rows deleted per round: their objects go in one R2 call (at most 1,000 keys). */
const TRACES_PER_ROUND = 500
/** Ids per D1 statement (a statement binds at most 100 parameters). */
const IDS_PER_STATEMENT = 90

/** Deletes the traces of `buildId`, objects first, then rows, a round at a time. */
async function deleteTraces(env: Env, app: EvictedApp, buildId: number): Promise<void> {
  const db = dbOf(env)
  for (;;) {
    const rows = await db
      .select({ id: traces.id, rawKey: traces.rawKey, normKey: traces.normKey })
      .from(traces)
      .where(and(eq(traces.appId, app.id), eq(traces.buildId, buildId)))
      .limit(TRACES_PER_ROUND)
      .all()
    if (rows.length === 0) return
    await env.BUCKET.delete(rows.flatMap((row) => [row.rawKey, row.normKey]))
    const ids = rows.map((row) => row.id)
    const [first, ...rest] = Array.from(
      { length: Math.ceil(ids.length / IDS_PER_STATEMENT) },
      (_, n) =>
        db
          .delete(traces)
          .where(inArray(traces.id, ids.slice(n * IDS_PER_STATEMENT, (n + 1) * IDS_PER_STATEMENT))),
    )
    await db.batch([first, ...rest])
  }
}

/**
 * Removes one build's objects, patches, traces and statistics (retiring what was published),
 * marks it `deleted`.
 */
export async function evictBuild(env: Env, app: EvictedApp, buildId: number): Promise<void> {
  const db = dbOf(env)
  const touching = and(
    eq(patches.appId, app.id),
    or(eq(patches.fromBuildId, buildId), eq(patches.toBuildId, buildId)),
  )
  const patchRows = await db
    .select({ key: patches.key, fromBuildId: patches.fromBuildId, toBuildId: patches.toBuildId })
    .from(patches)
    .where(touching)
    .all()
  await retirePublished(env, app, buildId, patchRows)

  await purgePrefix(env.BUCKET, buildKeys(app.orgId, app.id, buildId).prefix)
  await purgePrefix(env.BUCKET, buildImagesPrefix(app.orgId, app.id, buildId))
  for (let i = 0; i < patchRows.length; i += 1000) {
    await env.BUCKET.delete(patchRows.slice(i, i + 1000).map((row) => row.key))
  }
  await db.delete(patches).where(touching)
  await deleteTraces(env, app, buildId)
  await env.BUCKET.delete(statsKey(app.orgId, app.id, buildId))

  await db
    .update(builds)
    .set({ state: 'deleted' })
    .where(and(eq(builds.appId, app.id), eq(builds.buildId, buildId)))
  // A trace stored while the build was going (its upload began before) is gone too: one that
  // comes later finds the build deleted and removes itself (accept-trace.ts).
  await deleteTraces(env, app, buildId)
  await env.BUCKET.delete(statsKey(app.orgId, app.id, buildId))
}

/**
 * Asks the app's coordinator to carry training to the current build first; the build training
 * is on then (null: none), or undefined when the coordinator could not be asked.
 */
async function trainedBuild(
  env: Env,
  app: EvictedApp,
  log: Logger,
): Promise<number | null | undefined> {
  const org = await dbOf(env)
    .select({ name: orgs.name })
    .from(orgs)
    .where(eq(orgs.id, app.orgId))
    .get()
  if (!org) return undefined
  try {
    return await coordinatorOf(env, org.name, app.name).followCurrentBuild({
      orgId: app.orgId,
      orgName: org.name,
      appId: app.id,
      appName: app.name,
    })
  } catch (error) {
    log.warn('training not moved to the current build; eviction postponed', {
      appId: app.id,
      error: String(error),
    })
    return undefined
  }
}

/**
 * Evicts the oldest ready builds until at most `app.maxBuilds` remain, never the current one
 * and never the build training is on: the app's coordinator first carries its statistics to
 * the current build, and should a newer build have become current meanwhile, the build the
 * statistics are still on waits for the next eviction. When the coordinator cannot be asked,
 * nothing is evicted now. Returns the evicted build ids.
 */
export async function evictOldBuilds(
  env: Env,
  app: EvictedApp & Pick<AppRow, 'maxBuilds' | 'iCurBuild'>,
  log: Logger,
): Promise<number[]> {
  const ready = () =>
    dbOf(env)
      .select({ buildId: builds.buildId })
      .from(builds)
      .where(and(eq(builds.appId, app.id), inArray(builds.state, ['ready'])))
      .orderBy(desc(builds.buildId))
      .all()
  if ((await ready()).length <= app.maxBuilds) return []
  const trainedOn = await trainedBuild(env, app, log)
  if (trainedOn === undefined) return []

  // Read again after the coordinator: a build may have become current meanwhile, and the
  // current build only ever grows, so only builds older than it can go.
  const fresh = await dbOf(env)
    .select({ iCurBuild: apps.iCurBuild })
    .from(apps)
    .where(eq(apps.id, app.id))
    .get()
  const currentId = fresh?.iCurBuild ?? app.iCurBuild
  const kept = await ready()
  const current = kept.find((build) => build.buildId === currentId)
  const newestFirst = current ? [current, ...kept.filter((build) => build !== current)] : kept
  const evicted = newestFirst
    .slice(app.maxBuilds)
    .map((build) => build.buildId)
    .filter((buildId) => buildId !== trainedOn && (currentId === null || buildId < currentId))
  for (const buildId of evicted) await evictBuild(env, app, buildId)
  return evicted
}
