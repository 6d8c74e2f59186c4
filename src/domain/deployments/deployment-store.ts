/** Reading deployment rows, their stored settings, and the deployment object of the API. */
import { and, eq } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { deployments } from '../../db/schema'
import type { Env } from '../../env'
import { notFound } from '../../http/errors'
import { sha256Hex } from '../auth/secrets'
import type { DownloadAuthSettings, OriginSettings } from './origin-settings'
import { maskDownloadAuth, maskOrigin } from './secret-box'

export type DeploymentRow = typeof deployments.$inferSelect

/** The deployment `name` of an org; 404 when there is none. */
export async function findDeployment(
  env: Env,
  orgId: string,
  name: string,
): Promise<DeploymentRow> {
  const row = await dbOf(env)
    .select()
    .from(deployments)
    .where(and(eq(deployments.orgId, orgId), eq(deployments.name, name)))
    .get()
  if (!row) throw notFound(`deployment ${name}`)
  return row
}

/** The stored origin (secrets still sealed). */
export function storedOrigin(row: Pick<DeploymentRow, 'origin'>): OriginSettings {
  return JSON.parse(row.origin) as OriginSettings
}

/** The stored download signing settings (key still sealed), or null. */
export function storedDownloadAuth(
  row: Pick<DeploymentRow, 'downloadAuth'>,
): DownloadAuthSettings | null {
  return row.downloadAuth ? (JSON.parse(row.downloadAuth) as DownloadAuthSettings) : null
}

/**
 * A fingerprint of where a deployment publishes (origin settings and prefix). A publish in
 * progress restarts the deployment's files when it changes, e.g. after credentials were fixed.
 */
export async function originStamp(
  row: Pick<DeploymentRow, 'origin' | 'originPrefix'>,
): Promise<string> {
  return (await sha256Hex(`${row.originPrefix}\n${row.origin}`)).slice(0, 16)
}

/** Fields of the deployment object, for `fields[]`. */
export const DEPLOYMENT_FIELDS = [
  'name',
  'label',
  'originPrefix',
  'origin',
  'downloadAuth',
  'publicUrl',
  'status',
  'message',
  'rangeVerified',
  'created',
  'updated',
] as const

/** The deployment object of the API: secrets shown as `"***"`. */
export function deploymentView(row: DeploymentRow) {
  const downloadAuth = storedDownloadAuth(row)
  return {
    name: row.name,
    label: row.label,
    originPrefix: row.originPrefix,
    origin: maskOrigin(storedOrigin(row)),
    downloadAuth: downloadAuth ? maskDownloadAuth(downloadAuth) : null,
    publicUrl: row.publicUrl,
    status: row.status as 'unknown' | 'ok' | 'error',
    message: row.message,
    rangeVerified: row.rangeVerified,
    created: row.created,
    updated: row.updated,
  }
}

export type DeploymentView = ReturnType<typeof deploymentView>
