/**
 * The one error type of the API. Handlers throw an `ApiError`; the app's error handler turns
 * it into the envelope of API.md: `{"status":"error","code":...,"message":...,"details":[...]}`.
 */
import type { ContentfulStatusCode } from 'hono/utils/http-status'

/** A reason attached to an error: a bad field, a missing permission, a bad line of an upload. */
export type ErrorDetail =
  | { field: string; reason: string }
  | { permission: string }
  | { line: number; reason: string }
  | Record<string, unknown>

export interface ApiErrorOptions {
  details?: ErrorDetail[]
  /** Extra response headers, e.g. `Retry-After` on a 429. */
  headers?: Record<string, string>
}

/** An error answered to the client with its status, machine code and human message. */
export class ApiError extends Error {
  override name = 'ApiError'
  readonly status: ContentfulStatusCode
  readonly code: string
  readonly details: ErrorDetail[]
  readonly headers: Record<string, string>

  constructor(
    status: ContentfulStatusCode,
    code: string,
    message: string,
    options: ApiErrorOptions = {},
  ) {
    super(message)
    this.status = status
    this.code = code
    this.details = options.details ?? []
    this.headers = options.headers ?? {}
  }
}

/** 400 with one detail per bad field. */
export const invalidParam = (details: { field: string; reason: string }[]) =>
  new ApiError(
    400,
    'invalidParam',
    `invalid parameter: ${details.map((d) => `${d.field}: ${d.reason}`).join('; ')}`,
    { details },
  )

export const unauthenticated = (message = 'missing or invalid credentials') =>
  new ApiError(401, 'unauthenticated', message)

/** 403 naming the missing permission as `<resource>.<op>`. */
export const forbidden = (permission: string) =>
  new ApiError(403, 'forbidden', `permission ${permission} required`, {
    details: [{ permission }],
  })

export const notFound = (what: string) => new ApiError(404, 'notFound', `${what} not found`)

export const conflict = (message: string) => new ApiError(409, 'conflict', message)

export const gone = (message: string) => new ApiError(410, 'gone', message)

export const lengthRequired = () =>
  new ApiError(411, 'lengthRequired', 'Content-Length header required')

export const tooLarge = (message: string) => new ApiError(413, 'tooLarge', message)

export const unsupportedType = (expected: string) =>
  new ApiError(415, 'unsupportedMediaType', `Content-Type must be ${expected}`)

/** 422 about line N of an upload (line 1 is the first line). */
export const badLine = (line: number, reason: string) =>
  new ApiError(422, 'unprocessable', `line ${line}: ${reason}`, { details: [{ line, reason }] })

export const unprocessable = (message: string, details: ErrorDetail[] = []) =>
  new ApiError(422, 'unprocessable', message, { details })

export const rateLimited = (retryAfterSec: number) =>
  new ApiError(429, 'rateLimited', `too many requests, retry in ${retryAfterSec} s`, {
    headers: { 'Retry-After': String(retryAfterSec) },
  })
