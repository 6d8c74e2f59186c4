/** One JSON log line per request: request id, method, path, status, duration, org and user. */
import type { MiddlewareHandler } from 'hono'
import { settingsOf } from '../../env'
import type { AppEnv } from '../context'
import { createLogger } from '../log'

export function accessLog(): MiddlewareHandler<AppEnv> {
  return async function accessLogMiddleware(c, next) {
    const started = Date.now()
    let level: 'debug' | 'info' | 'warn' | 'error' = 'info'
    try {
      level = settingsOf(c.env).logLevel
    } catch {
      // A misconfigured instance still logs; the error handler reports the configuration.
    }
    c.set('log', createLogger(level, { requestId: c.var.requestId }))
    await next()
    c.var.log.info('request', {
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      ms: Date.now() - started,
    })
  }
}
