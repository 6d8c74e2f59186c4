/**
 * Which R2 object a public depot path names. The depot serves only what an app offers: the images
 * of its kept builds, an image of such a build that a newer one replaced until the cron deletes
 * it (24 h, for launchers mid-download), and its recorded patches; anything else, including
 * another org's or a deleted build's files, is not found.
 */
import { and, eq } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { apps, builds, orgs, patches } from '../../db/schema'
import type { Env } from '../../env'
import { buildIdText, dxfNameOf, imageKeys, patchKey } from '../../storage/keys'
import { retiredInDepot } from '../deployments/retired-files'

/** A file of the depot: its R2 key and how to label it. */
export interface DepotFile {
  key: string
  contentType: string
  /** How long caches may keep it; the depot's default (a year, immutable) when absent. */
  cacheControl?: string
}

/**
 * A patch keeps its path when `mkdxf` remakes it against a build's new image, so caches must
 * ask again: five minutes, then revalidate by ETag (a 304 while it is unchanged).
 */
export const PATCH_CACHE_CONTROL = 'public, max-age=300, must-revalidate'

/** Files of an image directory. */
export const IMAGE_FILES = ['image.dxf', 'profile.json'] as const
export type ImageFile = (typeof IMAGE_FILES)[number]

/** `0007` -> 7; null unless the text is a build id as origin paths write it. */
export function parseBuildId(text: string): number | null {
  if (!/^\d{4,9}$/.test(text)) return null
  const id = Number(text)
  return id >= 1 && buildIdText(id) === text ? id : null
}

async function appByNames(env: Env, orgName: string, appName: string) {
  const row = await dbOf(env)
    .select({ app: apps, orgState: orgs.state })
    .from(apps)
    .innerJoin(orgs, eq(orgs.id, apps.orgId))
    .where(and(eq(orgs.name, orgName), eq(apps.name, appName)))
    .get()
  return row?.orgState === 'active' ? row.app : null
}

/** `dxf/<orgName>/<appName>/<buildId4>/<dxfName>/<file>`, or null when not offered. */
export async function imageFile(
  env: Env,
  path: { orgName: string; appName: string; buildId: string; dxfName: string; file: string },
): Promise<DepotFile | null> {
  const buildId = parseBuildId(path.buildId)
  if (buildId === null || !(IMAGE_FILES as readonly string[]).includes(path.file)) return null
  const app = await appByNames(env, path.orgName, path.appName)
  if (!app) return null

  const build = await dbOf(env)
    .select({ dxfName: builds.dxfName })
    .from(builds)
    .where(and(eq(builds.appId, app.id), eq(builds.buildId, buildId), eq(builds.state, 'ready')))
    .get()
  if (!build) return null
  const keys = imageKeys(app.orgId, app.id, path.dxfName)
  const file: DepotFile =
    path.file === 'image.dxf'
      ? { key: keys.image, contentType: 'application/octet-stream' }
      : { key: keys.profile, contentType: 'application/json' }
  const current = app.iCurBuild === buildId && app.dxfName === path.dxfName
  if (build.dxfName === path.dxfName || current) return file
  return ofBuild(path.dxfName, buildId) && (await retiredInDepot(env, file.key)) ? file : null
}

/** True when `dxfName` is an image name of build `buildId` (`dxf-0007-03` of build 7). */
function ofBuild(dxfName: string, buildId: number): boolean {
  const match = dxfName.match(/^dxf-\d{4,}-(\d{2,})$/)
  return match !== null && dxfNameOf(buildId, Number(match[1])) === dxfName
}

/** `pat/<orgName>/<appName>/<toBuildId4>/<fromBuildId4>/patch.dxf`, or null when not recorded. */
export async function patchFile(
  env: Env,
  path: { orgName: string; appName: string; toBuildId: string; fromBuildId: string },
): Promise<DepotFile | null> {
  const toBuildId = parseBuildId(path.toBuildId)
  const fromBuildId = parseBuildId(path.fromBuildId)
  if (toBuildId === null || fromBuildId === null) return null
  const app = await appByNames(env, path.orgName, path.appName)
  if (!app) return null

  const patch = await dbOf(env)
    .select({ id: patches.id })
    .from(patches)
    .where(
      and(
        eq(patches.appId, app.id),
        eq(patches.toBuildId, toBuildId),
        eq(patches.fromBuildId, fromBuildId),
      ),
    )
    .get()
  if (!patch) return null
  return {
    key: patchKey(app.orgId, app.id, toBuildId, fromBuildId),
    contentType: 'application/octet-stream',
    cacheControl: PATCH_CACHE_CONTROL,
  }
}
