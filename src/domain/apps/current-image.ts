/**
 * The image a launcher should fetch: the app's current build and image, with the image's size and
 * SHA-256 as stored beside it in R2 (customMetadata `sha256`, written with the image).
 */
import { and, eq } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { builds } from '../../db/schema'
import type { Env } from '../../env'
import { imageKeys } from '../../storage/keys'
import type { AppRow } from './find-app'

export interface CurrentImage {
  iCurBuild: number
  buildName: string
  dxfName: string
  /** Size of `image.dxf` in bytes. */
  sizeBytes: number
  /** Lowercase hex SHA-256 of `image.dxf`; null when the writer did not record it. */
  sha256: string | null
}

/** The current image of `app`, or null while it has none (no build finished yet). */
export async function currentImage(env: Env, app: AppRow): Promise<CurrentImage | null> {
  if (app.iCurBuild === null || !app.dxfName) return null
  const build = await dbOf(env)
    .select({ buildName: builds.buildName })
    .from(builds)
    .where(
      and(eq(builds.appId, app.id), eq(builds.buildId, app.iCurBuild), eq(builds.state, 'ready')),
    )
    .get()
  if (!build) return null

  const object = await env.BUCKET.head(imageKeys(app.orgId, app.id, app.dxfName).image)
  if (!object) return null
  const sha256 = object.customMetadata?.sha256
  return {
    iCurBuild: app.iCurBuild,
    buildName: build.buildName,
    dxfName: app.dxfName,
    sizeBytes: object.size,
    sha256: sha256 && /^[0-9a-f]{64}$/.test(sha256) ? sha256 : null,
  }
}
