/**
 * Telling an app's coordinator about stored traces. A trace is durable before this call, so a
 * failure here loses nothing: the trace stays uncounted in D1 and the cron sends it again.
 */
import { coordinatorOf } from '../../coordinator/app-coordinator'
import type { AppIdentity } from '../../coordinator/coordinator-state'
import type { Env } from '../../env'
import type { Logger } from '../../http/log'

/** Hands `traceIds` of `app` to its coordinator; logs instead of throwing. */
export async function announceTraces(
  env: Env,
  app: AppIdentity,
  traceIds: string[],
  log: Logger,
): Promise<boolean> {
  try {
    await coordinatorOf(env, app.orgName, app.appName).tracesAccepted(app, traceIds)
    return true
  } catch (error) {
    log.warn('coordinator not reached; the cron will send the traces again', {
      traces: traceIds.length,
      error: String(error),
    })
    return false
  }
}
