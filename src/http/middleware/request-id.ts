/**
 * `x-request-id` on every response: the client's own id when it sends a usable one (printable
 * ASCII, at most 200 characters, as tracing systems send them), a new uuid otherwise. Written
 * here rather than taken from hono/request-id, which drops ids with `.`, `:` or `;`.
 */
import type { MiddlewareHandler } from 'hono'
import type { AppEnv } from '../context'

const USABLE = /^[\x21-\x7e]{1,200}$/

export function requestId(): MiddlewareHandler<AppEnv> {
  return async function requestIdMiddleware(c, next) {
    const sent = c.req.header('x-request-id')
    const id = sent && USABLE.test(sent) ? sent : crypto.randomUUID()
    c.set('requestId', id)
    await next()
    c.header('x-request-id', id)
  }
}
