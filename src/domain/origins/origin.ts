/**
 * What the publisher needs from a CDN origin, whatever stores it: S3-compatible buckets, Akamai
 * NetStorage, or the instance's own R2. Paths are origin-relative keys such as
 * `games/dxf/acme/myGame/0002/dxf-0002-01/image.dxf` (the deployment's `originPrefix` included,
 * no leading slash); each client maps them onto its own URLs or keys.
 */

/** A body sent to an origin: a stream of known `size`, or bytes. */
export type OriginBody = ReadableStream<Uint8Array> | Uint8Array

/** What `head` knows about a stored file. */
export interface OriginFile {
  size: number
  etag?: string
}

/** One page of `list`, and where the next page starts. A page may be empty while `next` is set. */
export interface OriginPage {
  keys: string[]
  /** Pass back to `list` for the next page; absent on the last page. */
  next?: string
}

/** The answer to a ranged GET: its status and at most the bytes asked for. */
export interface RangeAnswer {
  status: number
  bytes: Uint8Array
}

/** One uploaded part of a multipart upload. */
export interface UploadedPart {
  partNumber: number
  etag: string
}

/** Multipart uploads, for origins that take a file in parts (S3, R2). */
export interface OriginMultipart {
  /** Starts an upload; returns its id. */
  start(path: string, contentType: string): Promise<string>
  /** Uploads part `partNumber` (from 1) of `size` bytes; returns its ETag. */
  putPart(
    path: string,
    uploadId: string,
    partNumber: number,
    body: OriginBody,
    size: number,
  ): Promise<string>
  /** Joins the parts into the file. */
  complete(path: string, uploadId: string, parts: UploadedPart[]): Promise<void>
  /** Drops an unfinished upload (best effort). */
  abort(path: string, uploadId: string): Promise<void>
}

/** A CDN origin the publisher writes to. */
export interface Origin {
  readonly type: 's3' | 'netstorage' | 'r2'
  /** A name for messages: the endpoint host, NetStorage host or R2 namespace. No secrets. */
  readonly where: string
  /** Stores a whole file of `size` bytes. */
  put(path: string, body: OriginBody, size: number, contentType: string): Promise<void>
  /** Size and ETag of a stored file, or null when there is none. */
  head(path: string): Promise<OriginFile | null>
  /** GETs `length` bytes from `offset` with a `Range` header, as a launcher would. */
  getRange(path: string, offset: number, length: number): Promise<RangeAnswer>
  /** Deletes a file; a file that is already gone is not an error. */
  delete(path: string): Promise<void>
  /** Lists keys under `prefix` (which ends with `/`), one bounded page at a time. */
  list(prefix: string, next?: string): Promise<OriginPage>
  /** Present when the origin takes files in parts. */
  readonly multipart?: OriginMultipart
}

/** Why an origin call failed. */
export type OriginErrorCode =
  | 'originDenied'
  | 'originNotFound'
  | 'originFailed'
  | 'originUnreachable'
  | 'originRefused'
  | 'originNoRange'

/**
 * A failed origin call. `transient` errors (network, 5xx, 429) may succeed when tried again;
 * the others (wrong credentials, a missing bucket) will not until the deployment is fixed.
 */
export class OriginError extends Error {
  override name = 'OriginError'
  constructor(
    readonly code: OriginErrorCode,
    message: string,
    readonly httpStatus?: number,
    readonly transient = false,
  ) {
    super(message)
  }
}

/** The error for an HTTP answer that is not a success. */
export function statusError(status: number, message: string): OriginError {
  if (status === 401 || status === 403) return new OriginError('originDenied', message, status)
  if (status === 404) return new OriginError('originNotFound', message, status)
  return new OriginError('originFailed', message, status, status >= 500 || status === 429)
}

/** Runs `send`, turning a network failure into an `originUnreachable` error. */
export async function reach(where: string, send: () => Promise<Response>): Promise<Response> {
  try {
    return await send()
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error)
    throw new OriginError('originUnreachable', `cannot reach ${where}: ${reason}`, undefined, true)
  }
}

/**
 * A request body whose length the runtime knows, so it is sent with `Content-Length` rather than
 * chunked (S3 refuses chunked PUTs without it). Bytes pass through; streams are never buffered.
 */
export function sizedBody(body: OriginBody, size: number): BodyInit {
  if (body instanceof Uint8Array) return body
  const sized = new FixedLengthStream(size)
  body.pipeTo(sized.writable).catch(() => {
    // The request failed or was cut short; its own error is what the caller reports.
  })
  return sized.readable
}

/** Reads at most `limit` bytes of a body and cancels the rest (an origin may ignore Range). */
export async function readAtMost(
  body: ReadableStream<Uint8Array> | null,
  limit: number,
): Promise<Uint8Array> {
  if (!body) return new Uint8Array(0)
  const reader = body.getReader()
  const out = new Uint8Array(limit)
  let filled = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return out.subarray(0, filled)
    const take = Math.min(value.length, limit - filled)
    out.set(value.subarray(0, take), filled)
    filled += take
    // More than asked for: the rest may be a whole image; stop reading it.
    if (take < value.length) break
  }
  await reader.cancel().catch(() => {})
  return out.subarray(0, filled)
}

/** Percent-encodes each segment of a key, keeping its slashes. */
export function encodeKey(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/')
}

/** A short piece of an error body for messages (never the whole of it). */
export async function bodySnippet(response: Response, limit = 2048): Promise<string> {
  const bytes = await readAtMost(response.body, limit)
  return new TextDecoder().decode(bytes)
}
