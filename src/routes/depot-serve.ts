/**
 * Answering a depot request from R2 the way a CDN origin would: one byte range (`bytes=a-b`,
 * `bytes=a-`, `bytes=-n`) with 206, 416 with the size when no byte is in range, validators (ETag,
 * Last-Modified) with 304 and `If-Range`, and long caching for images, whose files never change
 * under their names (a patch's path is reused when it is remade, so it is cached briefly and
 * revalidated). Bodies stream straight from R2.
 */
import type { DepotFile } from '../domain/apps/depot-files'
import type { AppContext } from '../http/context'
import { ApiError, conflict, notFound } from '../http/errors'

/** Image files are immutable under their names: caches may keep them for a year. */
export const DEPOT_CACHE_CONTROL = 'public, max-age=31536000, immutable'

/** A byte range as a client asked for it. */
export type RangeRequest = { first: number; last?: number } | { suffix: number }

/** A range resolved against the object's size. */
export interface ByteSlice {
  offset: number
  length: number
}

/**
 * Parses a `Range` header. Null when absent or not one satisfiable-looking byte range: a
 * malformed header, another unit or several ranges are ignored and the whole file is sent
 * (RFC 9110 lets a server ignore `Range`).
 */
export function parseRange(header: string | undefined): RangeRequest | null {
  const match = header?.trim().match(/^bytes\s*=\s*(\d*)\s*-\s*(\d*)$/i)
  if (!match) return null
  const [, first, last] = match
  if (first === '' && last === '') return null
  if (first === '') return { suffix: Number(last) }
  if (last !== '' && Number(last) < Number(first)) return null
  return last === '' ? { first: Number(first) } : { first: Number(first), last: Number(last) }
}

/** The bytes of a `size`-byte file a range selects, or null when it selects none (416). */
export function resolveRange(range: RangeRequest, size: number): ByteSlice | null {
  if ('suffix' in range) {
    if (range.suffix === 0 || size === 0) return null
    const length = Math.min(range.suffix, size)
    return { offset: size - length, length }
  }
  if (range.first >= size) return null
  const last = Math.min(range.last ?? size - 1, size - 1)
  return { offset: range.first, length: last - range.first + 1 }
}

const weak = (tag: string) => tag.trim().replace(/^W\//, '')

/** True when `If-None-Match` (or else `If-Modified-Since`) says the client's copy is current. */
function notModified(c: AppContext, object: R2Object): boolean {
  const noneMatch = c.req.header('if-none-match')
  if (noneMatch !== undefined) {
    if (noneMatch.trim() === '*') return true
    return noneMatch.split(',').some((tag) => weak(tag) === object.httpEtag)
  }
  const since = Date.parse(c.req.header('if-modified-since') ?? '')
  return !Number.isNaN(since) && Math.floor(object.uploaded.getTime() / 1000) * 1000 <= since
}

/** True when `If-Range` is absent or still names this version (strong ETag or exact date). */
function rangeStillValid(c: AppContext, object: R2Object): boolean {
  const ifRange = c.req.header('if-range')?.trim()
  if (!ifRange) return true
  if (ifRange.startsWith('"') || ifRange.startsWith('W/')) return ifRange === object.httpEtag
  const date = Date.parse(ifRange)
  return !Number.isNaN(date) && Math.floor(object.uploaded.getTime() / 1000) * 1000 === date
}

function validators(file: DepotFile, object: R2Object): Record<string, string> {
  return {
    ETag: object.httpEtag,
    'Last-Modified': object.uploaded.toUTCString(),
    'Cache-Control': file.cacheControl ?? DEPOT_CACHE_CONTROL,
    'Accept-Ranges': 'bytes',
  }
}

function fileHeaders(file: DepotFile, object: R2Object, slice: ByteSlice | null): Headers {
  const headers = new Headers(validators(file, object))
  headers.set('Content-Type', file.contentType)
  headers.set('X-Content-Type-Options', 'nosniff')
  headers.set('Content-Length', String(slice ? slice.length : object.size))
  if (slice) {
    headers.set(
      'Content-Range',
      `bytes ${slice.offset}-${slice.offset + slice.length - 1}/${object.size}`,
    )
  }
  return headers
}

/** Answers a GET or HEAD for `file`. 404 when the object is missing. */
export async function serveDepotFile(c: AppContext, file: DepotFile): Promise<Response> {
  const bucket = c.env.BUCKET
  const head = c.req.method === 'HEAD'
  const rangeHeader = c.req.header('range')
  const conditional =
    c.req.header('if-none-match') !== undefined || c.req.header('if-modified-since') !== undefined

  // The common case, a plain download, costs one R2 read.
  if (!head && !rangeHeader && !conditional) {
    const object = await bucket.get(file.key)
    if (!object) throw notFound('file')
    return new Response(object.body, { status: 200, headers: fileHeaders(file, object, null) })
  }

  const meta = await bucket.head(file.key)
  if (!meta) throw notFound('file')
  if (notModified(c, meta))
    return new Response(null, { status: 304, headers: validators(file, meta) })

  const range = rangeStillValid(c, meta) ? parseRange(rangeHeader) : null
  const slice = range ? resolveRange(range, meta.size) : null
  if (range && !slice) {
    throw new ApiError(416, 'rangeNotSatisfiable', `range ${rangeHeader} is outside the file`, {
      details: [{ field: 'Range', reason: `the file has ${meta.size} bytes` }],
      headers: { 'Content-Range': `bytes */${meta.size}`, 'Accept-Ranges': 'bytes' },
    })
  }
  const status = slice ? 206 : 200
  const headers = fileHeaders(file, meta, slice)
  if (head) return new Response(null, { status, headers })

  const object = await bucket.get(file.key, {
    range: slice ?? undefined,
    onlyIf: { etagMatches: meta.etag },
  })
  if (!object) throw notFound('file')
  if (!('body' in object)) throw conflict('the file changed while it was being read; retry')
  return new Response(object.body, { status, headers })
}
