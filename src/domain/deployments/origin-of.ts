/** The origin client of a deployment, with its secret opened and its target checked again. */
import { type Env, settingsOf } from '../../env'
import { targetProblem } from '../net/target-check'
import { netStorageOrigin } from '../origins/netstorage-origin'
import { type Origin, OriginError } from '../origins/origin'
import { r2Origin } from '../origins/r2-origin'
import { s3Origin } from '../origins/s3-origin'
import { type DeploymentRow, storedOrigin } from './deployment-store'
import { originTarget } from './origin-settings'
import { openOrigin } from './secret-box'

/**
 * Builds the client for `row`. The target is checked again because the instance setting
 * `ALLOW_PRIVATE_TARGETS` may have been turned off since the deployment was made.
 */
export async function originOf(env: Env, row: DeploymentRow): Promise<Origin> {
  const settings = settingsOf(env)
  const stored = storedOrigin(row)

  const target = originTarget(stored)
  if (target) {
    const problem = targetProblem(target, {
      allowPrivateTargets: settings.allowPrivateTargets,
      selfUrl: settings.publicUrl || undefined,
    })
    if (problem) throw new OriginError('originRefused', `origin ${target} ${problem}`)
  }

  let origin: Awaited<ReturnType<typeof openOrigin>>
  try {
    origin = await openOrigin(settings.encryptionKey, row.id, stored)
  } catch {
    throw new OriginError(
      'originRefused',
      `the secret of deployment ${row.name} does not open; was EDGE_ENCRYPTION_KEY changed? ` +
        'PATCH the deployment with its secret again',
    )
  }

  if (origin.type === 's3') return s3Origin(origin)
  if (origin.type === 'netstorage') return netStorageOrigin(origin)
  return r2Origin(env.BUCKET, origin.bucket)
}

/** `<originPrefix>/<path>`, or `path` when the prefix is empty. */
export function originPath(originPrefix: string, path: string): string {
  return originPrefix ? `${originPrefix}/${path}` : path
}
