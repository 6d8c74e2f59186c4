/**
 * What a publish sends: the app's current image (`image.dxf`, `profile.json`) and the patches
 * to its build, each with its R2 source, its public path (the origin layout of API.md) and size;
 * and the deployments it goes to (the app's list, or all of the org's when the list is empty).
 */
import { and, asc, eq, inArray } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { type apps, deployments, orgs, patches } from '../../db/schema'
import type { Env } from '../../env'
import { imageKeys, publicImageDir, publicPatchDir } from '../../storage/keys'
import { TaskFailure } from '../../tasks/types'

/** One file to publish. */
export interface PublishFile {
  /** R2 key of the bytes. */
  source: string
  /** Path under the deployment's `originPrefix`, e.g. `dxf/acme/myGame/0002/dxf-0002-01/image.dxf`. */
  path: string
  size: number
  contentType: string
}

export interface PublishPlan {
  orgName: string
  appName: string
  buildId: number
  dxfName: string
  /** Deployment ids, in name order. */
  deploymentIds: string[]
  files: PublishFile[]
  /** Bytes of `files` (sent once per deployment). */
  bytes: number
}

type AppRow = typeof apps.$inferSelect

/** Deployment ids an app publishes to; unknown names are reported through `warn`. */
async function targetDeployments(
  env: Env,
  app: AppRow,
  warn: (message: string) => Promise<void>,
): Promise<string[]> {
  const db = dbOf(env)
  const listed = app.deployments ? (JSON.parse(app.deployments) as string[]) : []
  const rows = await db
    .select({ id: deployments.id, name: deployments.name })
    .from(deployments)
    .where(
      listed.length
        ? and(eq(deployments.orgId, app.orgId), inArray(deployments.name, listed))
        : eq(deployments.orgId, app.orgId),
    )
    .orderBy(asc(deployments.name))
    .all()
  const found = new Set(rows.map((row) => row.name))
  const missing = listed.filter((name) => !found.has(name))
  if (missing.length) await warn(`deployments ${missing.join(', ')} no longer exist; skipped`)
  return rows.map((row) => row.id)
}

async function sized(env: Env, source: string): Promise<number | null> {
  const object = await env.BUCKET.head(source)
  return object ? object.size : null
}

/** The plan for the app's current image; fails `noImage` while it has none. */
export async function planPublish(
  env: Env,
  app: AppRow,
  warn: (message: string) => Promise<void>,
): Promise<PublishPlan> {
  if (app.iCurBuild === null || !app.dxfName) {
    throw new TaskFailure({ code: 'noImage', message: `app ${app.name} has no image yet` })
  }
  const db = dbOf(env)
  const org = await db.select({ name: orgs.name }).from(orgs).where(eq(orgs.id, app.orgId)).get()
  const orgName = org?.name ?? ''
  const buildId = app.iCurBuild
  const dxfName = app.dxfName

  const keys = imageKeys(app.orgId, app.id, dxfName)
  const dir = publicImageDir(orgName, app.name, buildId, dxfName)
  const files: PublishFile[] = []
  for (const [name, source, contentType] of [
    ['image.dxf', keys.image, 'application/octet-stream'],
    ['profile.json', keys.profile, 'application/json'],
  ] as const) {
    const size = await sized(env, source)
    if (size === null) {
      throw new TaskFailure({
        code: 'imageMissing',
        message: `${name} of ${dxfName} is missing from storage`,
      })
    }
    files.push({ source, path: `${dir}${name}`, size, contentType })
  }

  const patchRows = await db
    .select()
    .from(patches)
    .where(and(eq(patches.appId, app.id), eq(patches.toBuildId, buildId)))
    .orderBy(asc(patches.fromBuildId))
    .all()
  for (const patch of patchRows) {
    const size = await sized(env, patch.key)
    if (size === null) {
      await warn(`patch ${patch.fromBuildId} -> ${buildId} is missing from storage; skipped`)
      continue
    }
    const patchDir = publicPatchDir(orgName, app.name, buildId, patch.fromBuildId)
    files.push({
      source: patch.key,
      path: `${patchDir}patch.dxf`,
      size,
      contentType: 'application/octet-stream',
    })
  }

  return {
    orgName,
    appName: app.name,
    buildId,
    dxfName,
    deploymentIds: await targetDeployments(env, app, warn),
    files,
    bytes: files.reduce((sum, file) => sum + file.size, 0),
  }
}
