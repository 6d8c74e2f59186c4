/**
 * The instance's own R2 bucket as an origin. A Worker reaches only the buckets bound to it, so
 * an `r2` deployment publishes into the `BUCKET` binding under `origins/<bucket>/` (`bucket`
 * defaults to `r2`): the prefix keeps published files apart from the internal `orgs/...` keys,
 * and the bucket name becomes a namespace inside it.
 */
import { type Origin, type OriginBody, OriginError, readAtMost, sizedBody } from './origin'

/** Keys per listing page. */
const PAGE_SIZE = 50

/** The R2 key prefix of a namespace, e.g. `origins/r2/`. */
export function r2OriginRoot(bucket: string): string {
  return `origins/${bucket}/`
}

/** An origin inside the instance's bucket, under `origins/<bucket>/`. */
export function r2Origin(binding: R2Bucket, bucket: string): Origin {
  const root = r2OriginRoot(bucket)
  const where = `r2:${root}`

  async function guard<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run()
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error)
      throw new OriginError(
        'originFailed',
        `R2 ${what} in ${root} failed: ${reason}`,
        undefined,
        true,
      )
    }
  }

  return {
    type: 'r2',
    where,

    async put(path, body: OriginBody, size, contentType) {
      await guard(`put ${path}`, () =>
        binding.put(root + path, sizedBody(body, size) as ReadableStream | Uint8Array, {
          httpMetadata: { contentType },
        }),
      )
    },

    async head(path) {
      const object = await guard(`head ${path}`, () => binding.head(root + path))
      return object ? { size: object.size, etag: object.httpEtag } : null
    },

    async getRange(path, offset, length) {
      const object = await guard(`get ${path}`, () =>
        binding.get(root + path, { range: { offset, length } }),
      )
      if (!object) throw new OriginError('originNotFound', `R2 has no ${root}${path}`, 404)
      // The binding always honours the range: it answers as a 206 would.
      return { status: 206, bytes: await readAtMost(object.body, length) }
    },

    async delete(path) {
      await guard(`delete ${path}`, () => binding.delete(root + path))
    },

    async list(prefix, next) {
      const listed = await guard(`list ${prefix}`, () =>
        binding.list({ prefix: root + prefix, startAfter: next, limit: PAGE_SIZE }),
      )
      const keys = listed.objects.map((object) => object.key.slice(root.length))
      return {
        keys,
        next: listed.truncated && keys.length ? root + keys[keys.length - 1] : undefined,
      }
    },

    multipart: {
      async start(path, contentType) {
        const upload = await guard(`multipart start ${path}`, () =>
          binding.createMultipartUpload(root + path, { httpMetadata: { contentType } }),
        )
        return upload.uploadId
      },

      async putPart(path, uploadId, partNumber, body, size) {
        const upload = binding.resumeMultipartUpload(root + path, uploadId)
        const part = await guard(`part ${partNumber} of ${path}`, () =>
          upload.uploadPart(partNumber, sizedBody(body, size) as ReadableStream | Uint8Array),
        )
        return part.etag
      },

      async complete(path, uploadId, parts) {
        const upload = binding.resumeMultipartUpload(root + path, uploadId)
        await guard(`multipart complete ${path}`, () => upload.complete(parts))
      },

      async abort(path, uploadId) {
        await binding
          .resumeMultipartUpload(root + path, uploadId)
          .abort()
          .catch(() => {})
      },
    },
  }
}
