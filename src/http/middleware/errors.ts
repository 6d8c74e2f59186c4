/**
 * Turns anything thrown by a route into the error envelope of API.md. Bad input never shows a
 * stack trace; a body the client broke off is logged as a warning (it is no fault of ours); an
 * unexpected failure is logged with its stack and answered as a 500 that names the request id.
 */
import type { ErrorHandler, NotFoundHandler } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { ConfigError } from '../../env'
import type { AppEnv } from '../context'
import { ApiError } from '../errors'
import { BodyEndedEarly } from '../request-body'

const codeOfStatus: Record<number, string> = {
  400: 'invalidParam',
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'notFound',
  405: 'methodNotAllowed',
  409: 'conflict',
  410: 'gone',
  411: 'lengthRequired',
  413: 'tooLarge',
  415: 'unsupportedMediaType',
  422: 'unprocessable',
  429: 'rateLimited',
  503: 'unavailable',
}

function envelope(code: string, message: string, details: unknown[] = []) {
  return { status: 'error' as const, code, message, details }
}

export const onError: ErrorHandler<AppEnv> = (err, c) => {
  if (err instanceof BodyEndedEarly) {
    c.var.log?.warn('request body ended early', { received: err.received, reason: err.reason })
  }
  if (err instanceof ApiError) {
    return c.json(envelope(err.code, err.message, err.details), err.status, err.headers)
  }
  if (err instanceof HTTPException) {
    const status = err.status as ContentfulStatusCode
    const message =
      status === 415
        ? 'unsupported Content-Type: this endpoint takes application/json'
        : err.message
    return c.json(envelope(codeOfStatus[status] ?? 'error', message || 'request refused'), status)
  }
  if (err instanceof ConfigError) {
    c.var.log?.error('misconfigured', { reason: err.message })
    return c.json(envelope('unavailable', err.message), 503)
  }
  c.var.log?.error('unhandled', { error: String(err), stack: (err as Error)?.stack })
  return c.json(
    envelope('internal', `internal error; quote request id ${c.var.requestId} when reporting it`),
    500,
  )
}

export const onNotFound: NotFoundHandler<AppEnv> = (c) =>
  c.json(envelope('notFound', `no route for ${c.req.method} ${c.req.path}`), 404)
