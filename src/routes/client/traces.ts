/**
 * `POST /client/v1/traces` (trace key): a launcher uploads the trace of one session. 202 with
 * the new `traceId` once the trace is stored; 200 with the first `traceId` when the session was
 * uploaded before.
 */
import { createRoute, z } from '@hono/zod-openapi'
import { appOfTraceKey } from '../../domain/apps/trace-key'
import { parseTraining } from '../../domain/apps/training-settings'
import { takeAttempt } from '../../domain/auth/rate-limit'
import { acceptTrace } from '../../domain/traces/accept-trace'
import { traceUploadWindow } from '../../domain/traces/upload-limits'
import { MAX_TRACE_BYTES } from '../../engine/trace-parse'
import { success } from '../../http/envelope'
import { ApiError, conflict, tooLarge, unauthenticated, unsupportedType } from '../../http/errors'
import { guardedBody } from '../../http/request-body'
import { createRouter } from '../../http/router'
import { errorBody, errorResponses, jsonResponse, successSchema } from '../../http/schemas'
import { traceKeyHeaders } from './trace-key'

const NDJSON = 'application/x-ndjson'

const traceAnswer = successSchema({
  traceId: z.string().openapi({ description: 'Id of the stored trace' }),
})

const errorContent = { 'application/json': { schema: errorBody } }

const upload = createRoute({
  method: 'post',
  path: '/client/v1/traces',
  tags: ['Client'],
  summary: 'Upload the trace of one session (rockit-trace/1, optionally gzip)',
  description:
    'The first line that is not blank (line 1 as a launcher writes it) is the header ' +
    '`{"format":"rockit-trace/1","sessionId":...,"buildName"?,"dxfName"?,"durationMs"}`; ' +
    'then reads `[tMs, path, offset, length]` or `[tMs, "@", imageOffset, length]`. ' +
    '`dxfName` names the image of the build the `"@"` offsets refer to (the build\'s current ' +
    'image when omitted); it must be a stored image of that build (`dxf-<buildId>-NN`), else ' +
    '422 on the header line. `durationMs` is at most 604800000 (7 days) and not before the ' +
    'last read. Limits: 64 MiB uncompressed, 2,000,000 reads; 50 uploads per app in 5 s. ' +
    'A body that ends early (connection lost, shorter than Content-Length) is a 400.',
  request: {
    headers: traceKeyHeaders,
    body: {
      required: true,
      content: {
        [NDJSON]: { schema: z.string().openapi({ description: 'The trace file' }) },
      },
    },
  },
  responses: {
    200: jsonResponse(traceAnswer, 'This session was uploaded before: its first trace'),
    202: jsonResponse(traceAnswer, 'Trace stored; it will be counted'),
    400: {
      description: 'A bad Content-Length, or a body that ended early',
      content: errorContent,
    },
    401: errorResponses[401],
    409: { description: 'The app takes no traces (uploadTrace is false)', content: errorContent },
    413: errorResponses[413],
    415: errorResponses[415],
    422: { description: 'A line does not fit the build (details name it)', content: errorContent },
    429: { description: 'Too many uploads for this app; see Retry-After', content: errorContent },
  },
})

function contentLengthOf(header: string | undefined): number | null {
  if (header === undefined) return null
  const length = Number(header)
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new ApiError(400, 'invalidParam', 'Content-Length must be a byte count')
  }
  return length
}

export const traceRoutes = createRouter().openapi(upload, async (c) => {
  const orgName = c.req.header('x-rockit-orgname')
  const appName = c.req.header('x-rockit-appname')
  const traceKey = c.req.header('x-rockit-trace-key')
  if (!orgName || !appName || !traceKey) {
    throw unauthenticated(
      'trace key required: x-rockit-orgname, x-rockit-appname and x-rockit-trace-key',
    )
  }
  const found = await appOfTraceKey(c.env, orgName, appName, traceKey)
  if (!found) throw unauthenticated('trace key is invalid for this app')
  const { org, app } = found
  c.set('log', c.var.log.with({ org: org.name, app: app.name }))

  const type = c.req.header('content-type')?.split(';')[0].trim().toLowerCase()
  if (type !== NDJSON) throw unsupportedType(NDJSON)
  const encoding = c.req.header('content-encoding')?.trim().toLowerCase() ?? 'identity'
  if (encoding !== 'gzip' && encoding !== 'identity') {
    throw new ApiError(415, 'unsupportedMediaType', 'Content-Encoding must be gzip or absent')
  }
  if (!parseTraining(app.training).uploadTrace) {
    throw conflict(`app ${app.name} takes no traces (uploadTrace is false)`)
  }
  const contentLength = contentLengthOf(c.req.header('content-length'))
  if (contentLength !== null && contentLength > MAX_TRACE_BYTES) {
    await c.req.raw.body?.cancel()
    throw tooLarge(`trace body over ${MAX_TRACE_BYTES} bytes`)
  }
  await takeAttempt(c.env, [traceUploadWindow(app.id)])

  const body = c.req.raw.body
  if (!body)
    throw new ApiError(422, 'unprocessable', 'line 1: the trace is empty', {
      details: [{ line: 1, reason: 'the trace is empty: the header is missing' }],
    })
  const accepted = await acceptTrace(
    c.env,
    org,
    app,
    { body: guardedBody(body, contentLength), contentLength },
    c.var.log,
  )
  return accepted.duplicate
    ? c.json(success('trace received before', { traceId: accepted.traceId }), 200)
    : c.json(success('trace accepted', { traceId: accepted.traceId }), 202)
})
