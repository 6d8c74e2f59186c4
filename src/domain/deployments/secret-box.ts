/**
 * Sealing the secrets of a deployment (an S3 `secretAccessKey`, a NetStorage `key`, a
 * `downloadAuth.key`) before they reach D1, and opening them when a task publishes. The cipher is
 * the instance's AES-GCM secret box (`domain/crypto/secret-box.ts`, keyed from
 * `EDGE_ENCRYPTION_KEY`); each value is bound to its deployment id and field, so a sealed value
 * copied onto another record or field does not open. The API never shows a secret: `"***"`.
 */
import { openSecret, sealSecret } from '../crypto/secret-box'
import type { DownloadAuthSettings, OriginSettings } from './origin-settings'

/** How an API answer shows a secret. */
export const MASK = '***'

const context = (deploymentId: string, field: string) => `deployment:${deploymentId}:${field}`

/** The origin as stored: its secret field sealed. */
export async function sealOrigin(
  key: string,
  deploymentId: string,
  origin: OriginSettings,
): Promise<OriginSettings> {
  if (origin.type === 's3') {
    const sealed = await sealSecret(key, origin.secretAccessKey, context(deploymentId, 's3'))
    return { ...origin, secretAccessKey: sealed }
  }
  if (origin.type === 'netstorage') {
    return {
      ...origin,
      key: await sealSecret(key, origin.key, context(deploymentId, 'netstorage')),
    }
  }
  return origin
}

/** The stored origin with its secret opened. Throws when the instance key changed. */
export async function openOrigin(
  key: string,
  deploymentId: string,
  origin: OriginSettings,
): Promise<OriginSettings> {
  if (origin.type === 's3') {
    const plain = await openSecret(key, origin.secretAccessKey, context(deploymentId, 's3'))
    return { ...origin, secretAccessKey: plain }
  }
  if (origin.type === 'netstorage') {
    return {
      ...origin,
      key: await openSecret(key, origin.key, context(deploymentId, 'netstorage')),
    }
  }
  return origin
}

export async function sealDownloadAuth(
  key: string,
  deploymentId: string,
  auth: DownloadAuthSettings,
): Promise<DownloadAuthSettings> {
  return { ...auth, key: await sealSecret(key, auth.key, context(deploymentId, 'downloadAuth')) }
}

export async function openDownloadAuth(
  key: string,
  deploymentId: string,
  auth: DownloadAuthSettings,
): Promise<DownloadAuthSettings> {
  return { ...auth, key: await openSecret(key, auth.key, context(deploymentId, 'downloadAuth')) }
}

/** The origin as the API shows it: every secret replaced by `"***"`. */
export function maskOrigin(origin: OriginSettings): OriginSettings {
  if (origin.type === 's3') return { ...origin, secretAccessKey: MASK }
  if (origin.type === 'netstorage') return { ...origin, key: MASK }
  return origin
}

export function maskDownloadAuth(auth: DownloadAuthSettings): DownloadAuthSettings {
  return { ...auth, key: MASK }
}
