/**
 * Where else a launcher may fetch an app's images: the public base URL of each origin the app
 * publishes to (its registered deployments, or all of the org's when none are registered).
 */
import type { Env } from '../../env'
import type { AppRow } from './find-app'

/** Public base URLs of the app's origins; empty while none is known. */
export async function originUrls(_env: Env, _app: AppRow): Promise<string[]> {
  // TODO(#3): deployments record no public download URL yet (only where to upload); list one
  // base URL per deployment here once they carry it.
  return []
}
