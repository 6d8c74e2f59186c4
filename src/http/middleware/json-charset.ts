/** JSON answers name their charset, as API.md section 1 writes: `application/json; charset=utf-8`. */
import type { MiddlewareHandler } from 'hono'
import type { AppEnv } from '../context'

export function jsonCharset(): MiddlewareHandler<AppEnv> {
  return async function jsonCharsetMiddleware(c, next) {
    await next()
    if (c.res.headers.get('content-type') !== 'application/json') return
    try {
      c.res.headers.set('content-type', 'application/json; charset=utf-8')
    } catch {
      // A response with immutable headers (passed through from elsewhere) keeps its own.
    }
  }
}
