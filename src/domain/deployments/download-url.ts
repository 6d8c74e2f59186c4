/**
 * Download URLs on a deployment's CDN: `<publicUrl>/<originPrefix>/<path>`, signed with the
 * deployment's `downloadAuth` when it has one (Akamai token auth or Gcore secure token).
 */
import { akamaiSignedUrl } from './akamai-token'
import { gcoreSignedUrl } from './gcore-token'
import { originPath } from './origin-of'
import type { DownloadAuthSettings } from './origin-settings'

/** The public URL of `path` (origin layout, e.g. `dxf/acme/myGame/0002/dxf-0002-01/image.dxf`). */
export function publicFileUrl(publicUrl: string, originPrefix: string, path: string): string {
  return `${publicUrl}/${originPath(originPrefix, path)}`
}

/** `url` signed with `auth` (key opened), valid for `auth.ttlSec` from `now` (ms). */
export function signedDownloadUrl(
  url: string,
  auth: DownloadAuthSettings,
  now = Date.now(),
): Promise<string> {
  return auth.type === 'akamai'
    ? akamaiSignedUrl(url, auth.key, auth.ttlSec, now)
    : gcoreSignedUrl(url, auth.key, auth.ttlSec, now)
}
