/**
 * Reading a `dxf/1` image by byte ranges, from a URL (Range requests, like a launcher on a CDN)
 * or from a local file, and fetching its header with one request for the fixed part and one
 * for the rest.
 */
import { open } from 'node:fs/promises'
import {
  IMAGE_FIXED_HEADER_BYTES,
  imageHeaderLength,
  type ParsedImageHeader,
  parseImageHeader,
} from '../../src/engine/dxf'

/** Byte ranges of one image. */
export interface ImageSource {
  /** Where the image is, for messages. */
  where: string
  /** Size of the whole image once known (after the first read of a URL). */
  size?: number
  /** Reads exactly `length` bytes at `offset`; throws when fewer come. */
  read(offset: number, length: number): Promise<Uint8Array>
  close(): Promise<void>
}

/** Whether `location` is an http(s) URL rather than a file path. */
export function isUrl(location: string): boolean {
  return /^https?:\/\//i.test(location)
}

/**
 * An image behind a URL, read with `Range: bytes=a-b` requests. Every request after the first
 * carries `If-Range` with the first answer's ETag, so a file replaced midway is noticed instead
 * of mixed.
 */
export function httpImageSource(url: string, headers: Record<string, string> = {}): ImageSource {
  let etag: string | undefined
  const source: ImageSource = {
    where: url,
    async read(offset, length) {
      const range = `bytes=${offset}-${offset + length - 1}`
      const request: Record<string, string> = { ...headers, range }
      if (etag) request['if-range'] = etag
      let response: Response
      try {
        response = await fetch(url, { headers: request })
      } catch (error) {
        const cause =
          (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message
        throw new Error(`cannot reach ${new URL(url).origin} (${cause}): is the service running?`)
      }
      if (response.status !== 206) {
        await response.body?.cancel()
        if (response.status === 200) {
          throw new Error(
            etag
              ? `${url} changed while it was read (a new image was published): fetch again`
              : `${url} ignored the Range request: the origin must answer ranges with 206`,
          )
        }
        throw new Error(`GET ${url} (${range}): ${response.status} ${response.statusText}`)
      }
      etag ??= response.headers.get('etag') ?? undefined
      const total = response.headers.get('content-range')?.match(/\/(\d+)$/)?.[1]
      if (total) source.size = Number(total)
      const bytes = new Uint8Array(await response.arrayBuffer())
      if (bytes.length !== length) {
        throw new Error(`${url} answered ${bytes.length} bytes for ${range}`)
      }
      return bytes
    },
    async close() {},
  }
  return source
}

/** An image in a local file. */
export async function fileImageSource(path: string): Promise<ImageSource> {
  const handle = await open(path, 'r').catch(() => {
    throw new Error(`${path} does not exist`)
  })
  const size = (await handle.stat()).size
  return {
    where: path,
    size,
    async read(offset, length) {
      const bytes = new Uint8Array(length)
      const { bytesRead } = await handle.read(bytes, 0, length, offset)
      if (bytesRead !== length) {
        throw new Error(`${path} is cut short: ${offset + bytesRead} of ${offset + length} bytes`)
      }
      return bytes
    },
    close: () => handle.close(),
  }
}

/** An image source for a URL or a file path. */
export function openImageSource(
  location: string,
  headers?: Record<string, string>,
): Promise<ImageSource> {
  return isUrl(location)
    ? Promise.resolve(httpImageSource(location, headers))
    : fileImageSource(location)
}

/**
 * Reads and decodes an image's header: the fixed 64 bytes first (which give its length), then
 * the rest in one more read.
 *
 * @example const { header } = await readImageHeader(await openImageSource(url))
 */
export async function readImageHeader(
  source: ImageSource,
): Promise<{ header: ParsedImageHeader; headerBytes: Uint8Array }> {
  const fixed = await source.read(0, IMAGE_FIXED_HEADER_BYTES).catch((error: Error) => {
    throw new Error(`${source.where}: cannot read the image header: ${error.message}`)
  })
  const length = imageHeaderLength(fixed)
  const headerBytes = new Uint8Array(length)
  headerBytes.set(fixed)
  if (length > IMAGE_FIXED_HEADER_BYTES) {
    headerBytes.set(
      await source.read(IMAGE_FIXED_HEADER_BYTES, length - IMAGE_FIXED_HEADER_BYTES),
      IMAGE_FIXED_HEADER_BYTES,
    )
  }
  return { header: parseImageHeader(headerBytes), headerBytes }
}
