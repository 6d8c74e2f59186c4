/**
 * One JSON log line per request: request id, method, path, status, duration, org and user. Paths
 * that carry a secret (single-use upload URLs) are logged with the secret cut off.
 */
import type { MiddlewareHandler } from 'hono'
import { settingsOf } from '../../env'
import type { AppEnv } from '../context'
import { createLogger } from '../log'

/** The path as it may be logged: `/upload/<token>` keeps only the token's first characters. */
export function loggablePath(path: string): string {
  return path.replace(/^\/upload\/([^/]{0,8})[^/]*/, '/upload/$1…')
}

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
    // The local runner's keep-alive nudges (scripts/start.ts) would drown the log.
    const write = c.req.header('x-rockit-keepalive') ? c.var.log.debug : c.var.log.info
    write('request', {
      method: c.req.method,
      path: loggablePath(c.req.path),
      status: c.res.status,
      ms: Date.now() - started,
    })
  }
}
