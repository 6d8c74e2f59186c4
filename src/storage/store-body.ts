/**
 * Streaming a request body of announced length into R2 without holding it. R2 needs the length
 * of a streamed put up front: bodies up to {@link SINGLE_PUT_MAX_BYTES} go through a
 * `FixedLengthStream`; larger ones through a multipart upload of equal parts read from the
 * stream (one part in memory). A body that ends before, or runs past, its length is refused.
 */
import { abortUpload, completeUpload, MiB, partSizeFor, startUpload, uploadPart } from './multipart'

/** Above this a body is stored as a multipart upload. */
export const SINGLE_PUT_MAX_BYTES = 100 * MiB

/** The body did not have the announced length (or broke off). */
export class BodyLengthError extends Error {
  override name = 'BodyLengthError'
}

async function nextChunk(reader: ReadableStreamDefaultReader<Uint8Array>, seen: number) {
  try {
    return await reader.read()
  } catch (error) {
    throw new BodyLengthError(`the body broke off after ${seen} bytes: ${String(error)}`)
  }
}

function tooLong(length: number) {
  return new BodyLengthError(`the body is longer than its Content-Length of ${length}`)
}

function tooShort(seen: number, length: number) {
  return new BodyLengthError(`the body ended after ${seen} of ${length} bytes`)
}

async function putWhole(
  bucket: R2Bucket,
  key: string,
  body: ReadableStream<Uint8Array>,
  length: number,
  options: R2PutOptions,
) {
  const fixed = new FixedLengthStream(length)
  const pump = async () => {
    const reader = body.getReader()
    const writer = fixed.writable.getWriter()
    let seen = 0
    try {
      for (;;) {
        const { done, value } = await nextChunk(reader, seen)
        if (done) break
        seen += value.length
        if (seen > length) throw tooLong(length)
        await writer.write(value)
      }
      if (seen < length) throw tooShort(seen, length)
      await writer.close()
    } catch (error) {
      await writer.abort(error).catch(() => {})
      await reader.cancel().catch(() => {})
      throw error
    }
  }
  const [pumped, put] = await Promise.allSettled([pump(), bucket.put(key, fixed.readable, options)])
  if (pumped.status === 'rejected') throw pumped.reason
  if (put.status === 'rejected') throw put.reason
}

async function putInParts(
  bucket: R2Bucket,
  key: string,
  body: ReadableStream<Uint8Array>,
  length: number,
  options: R2PutOptions,
) {
  const partSize = partSizeFor(length)
  let upload = await startUpload(bucket, key, {
    httpMetadata: options.httpMetadata,
    customMetadata: options.customMetadata,
  })
  const reader = body.getReader()
  const buffer = new Uint8Array(partSize)
  let fill = 0
  let stored = 0
  try {
    for (;;) {
      const { done, value } = await nextChunk(reader, stored + fill)
      if (done) break
      if (stored + fill + value.length > length) throw tooLong(length)
      let chunk = value
      while (chunk.length > 0) {
        const take = Math.min(partSize - fill, chunk.length)
        buffer.set(chunk.subarray(0, take), fill)
        fill += take
        chunk = chunk.subarray(take)
        if (fill < partSize) continue
        upload = await uploadPart(bucket, upload, stored / partSize + 1, buffer)
        stored += fill
        fill = 0
      }
    }
    if (stored + fill < length) throw tooShort(stored + fill, length)
    if (fill > 0)
      upload = await uploadPart(bucket, upload, stored / partSize + 1, buffer.subarray(0, fill))
    await completeUpload(bucket, upload, length)
  } catch (error) {
    await abortUpload(bucket, upload)
    await reader.cancel().catch(() => {})
    throw error
  }
}

/**
 * Stores `body`, announced as `length` bytes, at `key`. Throws `BodyLengthError` on a bad
 * length. `singlePutMaxBytes` moves the switch to multipart (default {@link SINGLE_PUT_MAX_BYTES}).
 */
export async function storeBody(
  bucket: R2Bucket,
  key: string,
  body: ReadableStream<Uint8Array> | null,
  length: number,
  options: R2PutOptions = {},
  singlePutMaxBytes = SINGLE_PUT_MAX_BYTES,
): Promise<void> {
  if (length === 0 || body === null) {
    if (length !== 0) throw tooShort(0, length)
    await bucket.put(key, new Uint8Array(0), options)
    return
  }
  if (length <= singlePutMaxBytes) await putWhole(bucket, key, body, length, options)
  else await putInParts(bucket, key, body, length, options)
}
