/**
 * The verifying S3 proxy of the worker tests (test/worker/origin-servers/sigv4-proxy.ts) against
 * requests signed by the service's own signer (aws4fetch): a request verifies by its own
 * `x-amz-date`, whatever second (or day) it reaches the proxy in, while a wrong secret, a
 * changed request or a stale date is still refused.
 */
/// <reference path="../worker/origin-servers/modules.d.ts" />
import type { IncomingMessage } from 'node:http'
import { AwsV4Signer } from 'aws4fetch'
import { describe, expect, it } from 'vitest'
import { signatureProblem } from '../worker/origin-servers/sigv4-proxy'

const endpoint = 'http://127.0.0.1:40123'
const credentials = { S3RVER: 'rockit-s3-secret-for-tests' }

/** `20251231T235959Z` for an instant. */
function amzDate(ms: number): string {
  return new Date(ms).toISOString().replace(/[:-]|\.\d{3}/g, '')
}

/** A request as the proxy's server sees it, signed by aws4fetch at `signedAt`. */
async function signedRequest(
  signedAt: number,
  init: { method?: string; path?: string; headers?: Record<string, string> } = {},
  secretAccessKey = credentials.S3RVER,
): Promise<IncomingMessage> {
  const path = init.path ?? '/rockit-origin/games/dxf/acme/myGame/0001/dxf-0001-01/image.dxf'
  const signed = await new AwsV4Signer({
    method: init.method ?? 'GET',
    url: `${endpoint}${path}`,
    headers: init.headers,
    accessKeyId: 'S3RVER',
    secretAccessKey,
    service: 's3',
    region: 'us-east-1',
    datetime: amzDate(signedAt),
  }).sign()
  const headers: Record<string, string> = { host: signed.url.host }
  signed.headers.forEach((value, name) => {
    headers[name] = value
  })
  return { method: signed.method, url: path, headers } as unknown as IncomingMessage
}

const lastSecondOfYear = Date.parse('2025-12-31T23:59:59.900Z')

describe('the SigV4 proxy', () => {
  it('accepts a request that reaches it in the second after it was signed', async () => {
    const req = await signedRequest(lastSecondOfYear - 60_000, {
      headers: { range: 'bytes=5242870-5242969' },
    })
    expect(signatureProblem(req, credentials, lastSecondOfYear - 60_000 + 150)).toBeNull()
  })

  it('accepts a request signed on the last second of a day and verified on the next day', async () => {
    const req = await signedRequest(lastSecondOfYear, { method: 'PUT' })
    expect(signatureProblem(req, credentials, lastSecondOfYear + 200)).toBeNull()
  })

  it('accepts signed queries and keys that need encoding, seconds late', async () => {
    const list = await signedRequest(lastSecondOfYear, {
      path: '/rockit-origin?list-type=2&prefix=games%2Fdxf%2Facme%2F&max-keys=50&start-after=a%20b',
    })
    expect(signatureProblem(list, credentials, lastSecondOfYear + 3_000)).toBeNull()
    const part = await signedRequest(lastSecondOfYear, {
      method: 'PUT',
      path: '/rockit-origin/p/dxf/a_%5Bb%5D/0001/image.dxf?partNumber=2&uploadId=c5bb82dd15d0',
    })
    expect(signatureProblem(part, credentials, lastSecondOfYear + 3_000)).toBeNull()
  })

  it('refuses a wrong secret, a changed request and a stale date', async () => {
    const now = lastSecondOfYear + 200
    const wrong = await signedRequest(lastSecondOfYear, {}, 'not-the-secret')
    expect(signatureProblem(wrong, credentials, now)?.code).toBe('SignatureDoesNotMatch')

    const moved = await signedRequest(lastSecondOfYear)
    moved.url = '/rockit-origin/games/dxf/acme/myGame/0001/dxf-0001-01/profile.json'
    expect(signatureProblem(moved, credentials, now)?.code).toBe('SignatureDoesNotMatch')

    const redated = await signedRequest(lastSecondOfYear)
    redated.headers['x-amz-date'] = amzDate(lastSecondOfYear - 1_000)
    expect(signatureProblem(redated, credentials, now)?.code).toBe('SignatureDoesNotMatch')

    const stale = await signedRequest(lastSecondOfYear)
    expect(signatureProblem(stale, credentials, now + 16 * 60_000)?.code).toBe(
      'RequestTimeTooSkewed',
    )
  })
})
