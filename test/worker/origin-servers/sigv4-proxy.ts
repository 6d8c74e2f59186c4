/**
 * A reverse proxy in front of s3rver that does what s3rver does not: verify AWS SigV4 request
 * signatures, independently of the Worker's signer (aws4fetch), with the `aws4` package. A wrong
 * secret, an unknown key id, a stale date or a changed header gets S3's own 403; a PUT without
 * `Content-Length` gets 411 as on AWS. With `stripRange` it drops the `Range` header, which makes
 * an origin without Range support (whole-object 200 answers) for the publish check.
 *
 * Tests see which signed requests went through at `GET /__log?path=/<bucket>/<key>` (no
 * signature needed): `{method, query, contentLength}` in arrival order.
 */
import { timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { sign } from 'aws4'
import type { RunningServer } from './running-server'

export interface SigV4ProxyOptions {
  upstream: { host: string; port: number }
  /** accessKeyId -> secretAccessKey */
  credentials: Record<string, string>
  stripRange?: boolean
}

export type { RunningServer }

const AUTH =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/

const MAX_SKEW_MS = 15 * 60 * 1000

function s3Error(res: ServerResponse, status: number, code: string, message: string) {
  res.writeHead(status, { 'content-type': 'application/xml' })
  res.end(
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`,
  )
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name]
  return Array.isArray(value) ? value.join(',') : value
}

/** Null when the request is signed correctly, else the S3 error to answer. */
export function signatureProblem(
  req: IncomingMessage,
  credentials: Record<string, string>,
  now = Date.now(),
): { code: string; message: string } | null {
  const match = AUTH.exec(header(req, 'authorization') ?? '')
  if (!match) return { code: 'AccessDenied', message: 'missing or malformed SigV4 Authorization' }
  const [, accessKeyId, date, region, service, signedHeaders, signature] = match

  const secretAccessKey = credentials[accessKeyId]
  if (secretAccessKey === undefined) {
    return { code: 'InvalidAccessKeyId', message: 'the access key id does not exist' }
  }
  const amzDate = header(req, 'x-amz-date') ?? ''
  const when = Date.parse(
    amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'),
  )
  if (!amzDate.startsWith(date) || Number.isNaN(when) || Math.abs(now - when) > MAX_SKEW_MS) {
    return { code: 'RequestTimeTooSkewed', message: 'x-amz-date is missing or too far from now' }
  }
  const names = signedHeaders.split(';')
  if (!names.includes('host') || !names.includes('x-amz-date')) {
    return { code: 'AccessDenied', message: 'host and x-amz-date must be signed' }
  }

  const headers: Record<string, string> = {}
  for (const name of names) headers[name] = header(req, name) ?? ''
  // The string to sign carries the request's own `x-amz-date`, as on S3: `aws4.sign` takes it
  // from that header. (A bare `RequestSigner#signature()` dates it by this process's clock, so a
  // request signed late in one second and verified early in the next would be refused.)
  const signed = sign(
    { method: req.method, path: req.url, service, region, headers },
    { accessKeyId, secretAccessKey },
  )
  const expected = Buffer.from(AUTH.exec(signed.headers.Authorization ?? '')?.[6] ?? '', 'hex')
  const given = Buffer.from(signature, 'hex')
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    return {
      code: 'SignatureDoesNotMatch',
      message: 'The request signature we calculated does not match the signature you provided',
    }
  }
  return null
}

/** Starts the proxy on a free loopback port. */
export function startSigV4Proxy(options: SigV4ProxyOptions): Promise<RunningServer> {
  const log: { path: string; method: string; query: string; contentLength: number | null }[] = []

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy')
    if (url.pathname === '/__log') {
      const path = url.searchParams.get('path')
      const entries = log.filter((entry) => entry.path === path).map(({ path: _, ...rest }) => rest)
      res.writeHead(200, { 'content-type': 'application/json' })
      return res.end(JSON.stringify(entries))
    }

    const problem = signatureProblem(req, options.credentials)
    if (problem) {
      req.resume()
      return s3Error(res, 403, problem.code, problem.message)
    }
    if (req.method === 'PUT' && req.headers['content-length'] === undefined) {
      req.resume()
      return s3Error(res, 411, 'MissingContentLength', 'You must provide the Content-Length header')
    }

    const length = req.headers['content-length']
    log.push({
      path: decodeURIComponent(url.pathname),
      method: req.method ?? '',
      query: url.search,
      contentLength: length === undefined ? null : Number(length),
    })

    const headers = { ...req.headers, host: `${options.upstream.host}:${options.upstream.port}` }
    if (options.stripRange) delete headers.range
    const upstream = request(
      { ...options.upstream, method: req.method, path: req.url, headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
      },
    )
    upstream.on('error', (error) => s3Error(res, 502, 'BadGateway', error.message))
    req.pipe(upstream)
  })

  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      resolve({
        url: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise((done) => {
            server.close(() => done())
            server.closeAllConnections()
          }),
      })
    })
  })
}
