/**
 * Processing an app's collected traces on request (`processTraces` trigger). The app's
 * coordinator decides, so a manual run can never overlap one it started itself (409 then).
 */
import { coordinatorOf } from '../../coordinator/app-coordinator'
import type { Env } from '../../env'
import { ApiError } from '../../http/errors'

/** Asks the coordinator of `org/app` to process now. Returns the `mkdxf` task name. */
export async function requestProcessing(
  env: Env,
  org: { id: string; name: string },
  app: { id: string; name: string },
): Promise<string> {
  const outcome = await coordinatorOf(env, org.name, app.name).processNow({
    orgId: org.id,
    orgName: org.name,
    appId: app.id,
    appName: app.name,
  })
  if (!outcome.ok) throw new ApiError(outcome.status, outcome.code, outcome.message)
  return outcome.taskName
}
