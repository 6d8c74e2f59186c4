/**
 * Keeping `maxBuilds` builds: the oldest ready builds beyond that number go, with their tar and
 * tables, their images and every patch from or to them. The current build always stays. Each
 * step is safe to repeat, so an eviction cut short is finished by the next one.
 */
import { and, desc, eq, inArray, or } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { builds, patches } from '../../db/schema'
import type { Env } from '../../env'
import { appPrefix, buildIdText, buildKeys } from '../../storage/keys'
import type { AppRow } from './find-app'
import { purgePrefix } from './purge'

/**
 * R2 prefix of every image of a build: image names are `dxf-<buildId4>-<n>` (`dxfNameOf`), so
 * the stem `images/dxf-0007-` holds all images of build 7 and nothing of another build.
 */
export function buildImagesPrefix(orgId: string, appId: string, buildId: number): string {
  return `${appPrefix(orgId, appId)}images/dxf-${buildIdText(buildId)}-`
}

/** Removes one build's objects and patches and marks its row `deleted`. */
export async function evictBuild(
  env: Env,
  app: Pick<AppRow, 'id' | 'orgId'>,
  buildId: number,
): Promise<void> {
  const db = dbOf(env)
  await purgePrefix(env.BUCKET, buildKeys(app.orgId, app.id, buildId).prefix)
  await purgePrefix(env.BUCKET, buildImagesPrefix(app.orgId, app.id, buildId))

  const touching = and(
    eq(patches.appId, app.id),
    or(eq(patches.fromBuildId, buildId), eq(patches.toBuildId, buildId)),
  )
  const patchRows = await db.select({ key: patches.key }).from(patches).where(touching).all()
  for (let i = 0; i < patchRows.length; i += 1000) {
    await env.BUCKET.delete(patchRows.slice(i, i + 1000).map((row) => row.key))
  }
  await db.delete(patches).where(touching)

  await db
    .update(builds)
    .set({ state: 'deleted' })
    .where(and(eq(builds.appId, app.id), eq(builds.buildId, buildId)))
}

/**
 * Evicts the oldest ready builds until at most `app.maxBuilds` remain, never the current one.
 * Returns the evicted build ids.
 */
export async function evictOldBuilds(
  env: Env,
  app: Pick<AppRow, 'id' | 'orgId' | 'maxBuilds' | 'iCurBuild'>,
): Promise<number[]> {
  const kept = await dbOf(env)
    .select({ buildId: builds.buildId })
    .from(builds)
    .where(and(eq(builds.appId, app.id), inArray(builds.state, ['ready'])))
    .orderBy(desc(builds.buildId))
    .all()
  if (kept.length <= app.maxBuilds) return []

  const current = kept.find((build) => build.buildId === app.iCurBuild)
  const newestFirst = current ? [current, ...kept.filter((build) => build !== current)] : kept
  const evicted = newestFirst.slice(app.maxBuilds).map((build) => build.buildId)
  for (const buildId of evicted) await evictBuild(env, app, buildId)
  return evicted
}
