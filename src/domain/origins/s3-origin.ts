/**
 * An S3-compatible origin: requests signed with SigV4 by aws4fetch, path-style URLs
 * `<endpoint>/<bucket>/<key>` (so any S3-compatible store works, with no DNS per bucket).
 * Payloads are sent `UNSIGNED-PAYLOAD`, which is what lets a part stream from R2 without being
 * read twice; the transport is still authenticated by the signed headers.
 */
import { AwsClient } from 'aws4fetch'
import {
  bodySnippet,
  encodeKey,
  type Origin,
  type OriginBody,
  OriginError,
  reach,
  readAtMost,
  sizedBody,
  statusError,
  type UploadedPart,
} from './origin'
import { xmlText, xmlTexts } from './xml'

/** The settings of an S3 origin with its secret opened. `endpoint` is `scheme://host[:port]`. */
export interface S3Settings {
  endpoint: string
  region: string
  bucket: string
  accessKeyId: string
  secretAccessKey: string
}

/** Keys per listing page: small enough that one step handles a page comfortably. */
const PAGE_SIZE = 50

/** An origin over the S3 API. */
export function s3Origin(settings: S3Settings): Origin {
  const client = new AwsClient({
    accessKeyId: settings.accessKeyId,
    secretAccessKey: settings.secretAccessKey,
    service: 's3',
    region: settings.region,
    // Retries belong to the publisher, which can reopen a streamed body; a signed request
    // whose stream was consumed cannot be sent again.
    retries: 0,
  })
  const where = `${new URL(settings.endpoint).host}/${settings.bucket}`
  const bucketUrl = `${settings.endpoint}/${encodeURIComponent(settings.bucket)}`
  const objectUrl = (path: string, query = '') => `${bucketUrl}/${encodeKey(path)}${query}`

  const send = (url: string, init: RequestInit) => reach(where, () => client.fetch(url, init))

  async function failure(response: Response, what: string): Promise<OriginError> {
    const xml = await bodySnippet(response)
    const code = xmlText(xml, 'Code')
    const hint = response.status === 403 ? ': check accessKeyId and secretAccessKey' : ''
    return statusError(
      response.status,
      `S3 ${what} on ${where} answered ${response.status}${code ? ` (${code})` : ''}${hint}`,
    )
  }

  async function expectOk(response: Response, what: string): Promise<Response> {
    if (!response.ok) throw await failure(response, what)
    return response
  }

  return {
    type: 's3',
    where,

    async put(path, body: OriginBody, size, contentType) {
      const response = await send(objectUrl(path), {
        method: 'PUT',
        headers: { 'content-type': contentType },
        body: sizedBody(body, size),
      })
      await expectOk(response, `PUT ${path}`)
      await response.body?.cancel()
    },

    async head(path) {
      const response = await send(objectUrl(path), { method: 'HEAD' })
      if (response.status === 404) return null
      await expectOk(response, `HEAD ${path}`)
      return {
        size: Number(response.headers.get('content-length') ?? 0),
        etag: response.headers.get('etag') ?? undefined,
      }
    },

    async getRange(path, offset, length) {
      const response = await send(objectUrl(path), {
        headers: { range: `bytes=${offset}-${offset + length - 1}` },
      })
      if (response.status >= 300) throw await failure(response, `ranged GET ${path}`)
      return { status: response.status, bytes: await readAtMost(response.body, length) }
    },

    async delete(path) {
      const response = await send(objectUrl(path), { method: 'DELETE' })
      if (response.status === 404) return
      await expectOk(response, `DELETE ${path}`)
      await response.body?.cancel()
    },

    async list(prefix, next) {
      const query = new URLSearchParams({
        'list-type': '2',
        prefix,
        'max-keys': String(PAGE_SIZE),
      })
      if (next) query.set('start-after', next)
      const response = await send(`${bucketUrl}?${query}`, {})
      const xml = await (await expectOk(response, `LIST ${prefix}`)).text()
      const keys = xmlTexts(xml, 'Key')
      const truncated = xmlText(xml, 'IsTruncated') === 'true'
      return { keys, next: truncated && keys.length ? keys[keys.length - 1] : undefined }
    },

    multipart: {
      async start(path, contentType) {
        const response = await send(objectUrl(path, '?uploads'), {
          method: 'POST',
          headers: { 'content-type': contentType },
        })
        const xml = await (await expectOk(response, `CreateMultipartUpload ${path}`)).text()
        const uploadId = xmlText(xml, 'UploadId')
        if (!uploadId) {
          throw new OriginError('originFailed', `S3 on ${where} gave no UploadId for ${path}`)
        }
        return uploadId
      },

      async putPart(path, uploadId, partNumber, body, size) {
        const query = `?partNumber=${partNumber}&uploadId=${encodeURIComponent(uploadId)}`
        const response = await send(objectUrl(path, query), {
          method: 'PUT',
          body: sizedBody(body, size),
        })
        await expectOk(response, `UploadPart ${partNumber} of ${path}`)
        await response.body?.cancel()
        const etag = response.headers.get('etag')
        if (!etag) {
          throw new OriginError(
            'originFailed',
            `S3 on ${where} gave no ETag for part ${partNumber}`,
          )
        }
        return etag
      },

      async complete(path, uploadId, parts: UploadedPart[]) {
        const xml = [
          '<CompleteMultipartUpload>',
          ...parts.map(
            (part) =>
              `<Part><PartNumber>${part.partNumber}</PartNumber><ETag>${escapeXml(part.etag)}</ETag></Part>`,
          ),
          '</CompleteMultipartUpload>',
        ].join('')
        const response = await send(objectUrl(path, `?uploadId=${encodeURIComponent(uploadId)}`), {
          method: 'POST',
          headers: { 'content-type': 'application/xml' },
          body: xml,
        })
        const text = await (await expectOk(response, `CompleteMultipartUpload ${path}`)).text()
        // S3 may answer 200 and still report a failure in the body.
        if (text.includes('<Error>')) {
          const code = xmlText(text, 'Code') ?? 'unknown'
          throw new OriginError(
            'originFailed',
            `S3 CompleteMultipartUpload ${path} on ${where} failed (${code})`,
            200,
            code === 'InternalError' || code === 'SlowDown',
          )
        }
      },

      async abort(path, uploadId) {
        const response = await send(objectUrl(path, `?uploadId=${encodeURIComponent(uploadId)}`), {
          method: 'DELETE',
        }).catch(() => null)
        await response?.body?.cancel()
      },
    },
  }
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}
