/**
 * Where else a launcher may fetch the current image: `image.dxf` on the CDN of each deployment
 * the app publishes to (its registered deployments, or all of the org's when none are
 * registered) that has a `publicUrl` and holds the image already (a finished `deploy` task
 * published this very image there), signed with the deployment's `downloadAuth` when it has one.
 */
import { and, asc, desc, eq, inArray, isNotNull, sql } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { deployments, tasks } from '../../db/schema'
import { type Env, settingsOf } from '../../env'
import { createLogger } from '../../http/log'
import { publicImageDir } from '../../storage/keys'
import { storedDownloadAuth } from '../deployments/deployment-store'
import { publicFileUrl, signedDownloadUrl } from '../deployments/download-url'
import { openDownloadAuth } from '../deployments/secret-box'
import type { CurrentImage } from './current-image'
import { type AppRow, registeredDeployments } from './find-app'

/** Finished deploys of one image looked at; a few more than retries of one publish ever make. */
const DEPLOYS_LOOKED_AT = 20

/** Names of the deployments that finished deploys of the app published `image` to. */
async function holding(env: Env, app: AppRow, image: CurrentImage): Promise<Set<string>> {
  const rows = await dbOf(env)
    .select({ result: tasks.result })
    .from(tasks)
    .where(
      and(
        eq(tasks.appId, app.id),
        eq(tasks.type, 'deploy'),
        eq(tasks.state, 'succeeded'),
        sql`json_extract(${tasks.result}, '$.dxfName') = ${image.dxfName}`,
        sql`json_extract(${tasks.result}, '$.buildId') = ${image.iCurBuild}`,
      ),
    )
    .orderBy(desc(tasks.ended))
    .limit(DEPLOYS_LOOKED_AT)
    .all()
  const names = new Set<string>()
  for (const row of rows) {
    const result = row.result ? (JSON.parse(row.result) as { deployments?: unknown }) : {}
    if (Array.isArray(result.deployments)) for (const name of result.deployments) names.add(name)
  }
  return names
}

/** URLs of the current `image.dxf` on the app's CDNs, in deployment name order. */
export async function originUrls(
  env: Env,
  app: AppRow,
  orgName: string,
  image: CurrentImage,
  now = Date.now(),
): Promise<string[]> {
  const listed = registeredDeployments(app)
  const rows = await dbOf(env)
    .select()
    .from(deployments)
    .where(
      and(
        eq(deployments.orgId, app.orgId),
        isNotNull(deployments.publicUrl),
        listed.length ? inArray(deployments.name, listed) : undefined,
      ),
    )
    .orderBy(asc(deployments.name))
    .all()
  if (rows.length === 0) return []

  const published = await holding(env, app, image)
  const path = `${publicImageDir(orgName, app.name, image.iCurBuild, image.dxfName)}image.dxf`
  const settings = settingsOf(env)
  const urls: string[] = []
  for (const row of rows) {
    if (!published.has(row.name) || !row.publicUrl) continue
    const url = publicFileUrl(row.publicUrl, row.originPrefix, path)
    const auth = storedDownloadAuth(row)
    if (!auth) {
      urls.push(url)
      continue
    }
    try {
      const opened = await openDownloadAuth(settings.encryptionKey, row.id, auth)
      urls.push(await signedDownloadUrl(url, opened, now))
    } catch (error) {
      // An unsigned URL would be refused by the CDN; the launcher still has the depot.
      createLogger(settings.logLevel, { deployment: row.name }).warn('download URL not signed', {
        error: error instanceof Error ? error.message : String(error),
      })
    }
  }
  return urls
}
