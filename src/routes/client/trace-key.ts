/**
 * The game-client credential: `x-rockit-orgname`, `x-rockit-appname` and `x-rockit-trace-key`.
 * The headers must name the app the path names; a missing, wrong or mismatched key is a 401 that
 * does not say whether the app exists.
 */
import { z } from '@hono/zod-openapi'
import { appOfTraceKey, type TraceKeyApp } from '../../domain/apps/trace-key'
import type { AppContext } from '../../http/context'
import { unauthenticated } from '../../http/errors'

/** The trace-key headers, for route definitions (checked by `requireTraceKey`). */
export const traceKeyHeaders = z.object({
  'x-rockit-orgname': z.string().optional().openapi({ description: 'The org of the app' }),
  'x-rockit-appname': z.string().optional().openapi({ description: 'The app' }),
  'x-rockit-trace-key': z.string().optional().openapi({ description: "The app's trace key" }),
})

/** The org and app of the request's trace key, which must be `orgName/appName`; else 401. */
export async function requireTraceKey(
  c: AppContext,
  orgName: string,
  appName: string,
): Promise<TraceKeyApp> {
  const headerOrg = c.req.header('x-rockit-orgname')
  const headerApp = c.req.header('x-rockit-appname')
  const traceKey = c.req.header('x-rockit-trace-key')
  if (!headerOrg || !headerApp || !traceKey) {
    throw unauthenticated(
      'trace key required: x-rockit-orgname, x-rockit-appname and x-rockit-trace-key',
    )
  }
  if (headerOrg !== orgName || headerApp !== appName) {
    throw unauthenticated('x-rockit-orgname and x-rockit-appname must name the app of the path')
  }
  const found = await appOfTraceKey(c.env, orgName, appName, traceKey)
  if (!found) throw unauthenticated('trace key is invalid for this app')
  c.set('log', c.var.log.with({ org: orgName, app: appName }))
  return found
}
