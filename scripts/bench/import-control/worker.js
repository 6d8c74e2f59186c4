/**
 * The control of the import benchmark: a Worker that moves a build's bytes through R2 the way
 * the service's import does, and does nothing else (no D1, no queue, no tables kept). If the
 * runtime grows as much under this Worker as under the service, the growth is the runtime's.
 *
 * - `PUT /store?key=K` streams the body into a multipart upload in parts of `partSizeFor`'s
 *   size, one reused part buffer (as src/storage/store-body.ts does), then completes it.
 * - `POST /scan?key=K&offset=O&length=L` is one scan step: a ranged read of the stored object
 *   streamed chunk by chunk, every 64 KiB block hashed with WebCrypto (as mkraw's scan does);
 *   answers the bytes read.
 * - `POST /copy?key=K&to=T&offset=O&length=L&part=N&upload=U` is one image step: reads the
 *   range 8 MiB at a time (`arrayBuffer()` of a ranged get) and uploads each piece as the next
 *   part of upload U of object T (as mkraw's image upload does); without `upload` it starts
 *   one, with `complete` (a JSON list of parts in the body) it completes it.
 */

const MiB = 1024 * 1024
const BLOCK_BYTES = 64 * 1024

/** The service's part size (src/storage/multipart.ts): at least 8 MiB, at most 10,000 parts. */
function partSizeFor(totalBytes) {
  return Math.max(8 * MiB, Math.ceil(totalBytes / 10_000 / MiB) * MiB)
}

async function store(bucket, key, request) {
  const length = Number(request.headers.get('content-length'))
  const partSize = partSizeFor(length)
  const upload = await bucket.createMultipartUpload(key)
  const reader = request.body.getReader()
  const buffer = new Uint8Array(partSize)
  const parts = []
  let fill = 0
  let stored = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    let chunk = value
    while (chunk.length > 0) {
      const take = Math.min(partSize - fill, chunk.length)
      buffer.set(chunk.subarray(0, take), fill)
      fill += take
      chunk = chunk.subarray(take)
      if (fill < partSize) continue
      parts.push(await upload.uploadPart(parts.length + 1, buffer))
      stored += fill
      fill = 0
    }
  }
  if (fill > 0) parts.push(await upload.uploadPart(parts.length + 1, buffer.subarray(0, fill)))
  stored += fill
  const object = await upload.complete(parts)
  return { stored, size: object.size, parts: parts.length, partSize }
}

async function scan(bucket, key, offset, length) {
  const object = await bucket.get(key, { range: { offset, length } })
  const reader = object.body.getReader()
  const block = new Uint8Array(BLOCK_BYTES)
  let fill = 0
  let read = 0
  let blocks = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    read += value.length
    let chunk = value
    while (chunk.length > 0) {
      const take = Math.min(BLOCK_BYTES - fill, chunk.length)
      block.set(chunk.subarray(0, take), fill)
      fill += take
      chunk = chunk.subarray(take)
      if (fill < BLOCK_BYTES) continue
      await crypto.subtle.digest('SHA-256', block)
      blocks++
      fill = 0
    }
  }
  if (fill > 0) await crypto.subtle.digest('SHA-256', block.subarray(0, fill))
  return { read, blocks }
}

async function copy(bucket, url, request) {
  const to = url.searchParams.get('to')
  if (url.searchParams.has('complete')) {
    const upload = bucket.resumeMultipartUpload(to, url.searchParams.get('upload'))
    const object = await upload.complete(await request.json())
    return { size: object.size }
  }
  const uploadId = url.searchParams.get('upload')
  const upload = uploadId
    ? bucket.resumeMultipartUpload(to, uploadId)
    : await bucket.createMultipartUpload(to)
  const key = url.searchParams.get('key')
  const offset = Number(url.searchParams.get('offset'))
  const length = Number(url.searchParams.get('length'))
  const partSize = Number(url.searchParams.get('partSize'))
  let part = Number(url.searchParams.get('part'))
  const parts = []
  for (let at = offset; at < offset + length; at += partSize) {
    const piece = await bucket.get(key, {
      range: { offset: at, length: Math.min(partSize, offset + length - at) },
    })
    parts.push(await upload.uploadPart(part++, new Uint8Array(await piece.arrayBuffer())))
  }
  return { upload: upload.uploadId, parts }
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url)
    const key = url.searchParams.get('key') ?? 'build.tar'
    const number = (name) => Number(url.searchParams.get(name))
    let answer
    if (request.method === 'PUT' && url.pathname === '/store') {
      answer = await store(env.BUCKET, key, request)
    } else if (request.method === 'POST' && url.pathname === '/scan') {
      answer = await scan(env.BUCKET, key, number('offset'), number('length'))
    } else if (request.method === 'POST' && url.pathname === '/copy') {
      answer = await copy(env.BUCKET, url, request)
    } else {
      return new Response('not found\n', { status: 404 })
    }
    return Response.json(answer)
  },
}
