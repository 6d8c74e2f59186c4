/**
 * A NetStorage HTTP API stand-in for the worker tests. It checks every request's signature as
 * Akamai documents it (auth data `5, 0.0.0.0, 0.0.0.0, <time>, <unique id>, <key name>`, sign =
 * base64 HMAC-SHA256 with the key over auth data + path + `\nx-akamai-acs-action:<action>\n`),
 * written here with Node's crypto, independently of the Worker's signer. It refuses a wrong key
 * or key name, a time more than 60 s off, a reused unique id and a path outside the CP code,
 * with 403. It implements `upload`, `download` (with Range), `stat`, `dir` and `delete`.
 *
 * Tests read what arrived without signing: `GET /__files?prefix=/<cpCode>/...` lists
 * `{path, size, sha256, contentType}` and `GET /__file?path=...` returns the bytes.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { RunningServer } from './running-server'

export interface NetStorageAccount {
  keyName: string
  key: string
  cpCode: string
}

interface StoredFile {
  bytes: Buffer
  contentType: string
  mtime: number
}

const MAX_SKEW_SEC = 60

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

function answer(res: ServerResponse, status: number, body = '', type = 'text/plain') {
  res.writeHead(status, { 'content-type': type })
  res.end(body)
}

const escapeXml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;')

/** Null when the request is signed for `account`, else why not. */
export function netStorageProblem(
  req: IncomingMessage,
  account: NetStorageAccount,
  seen: Set<string>,
  nowSec = Math.floor(Date.now() / 1000),
): string | null {
  const authData = String(req.headers['x-akamai-acs-auth-data'] ?? '')
  const sign = String(req.headers['x-akamai-acs-auth-sign'] ?? '')
  const action = String(req.headers['x-akamai-acs-action'] ?? '')
  const fields = authData.split(',').map((field) => field.trim())
  if (fields.length !== 6 || fields[0] !== '5') return 'auth data is not version 5'
  const [, , , time, uniqueId, keyName] = fields
  if (keyName !== account.keyName) return 'unknown key name'
  if (!/^\d+$/.test(time) || Math.abs(nowSec - Number(time)) > MAX_SKEW_SEC) {
    return 'time is too far from now'
  }
  if (seen.has(`${time}/${uniqueId}`)) return 'unique id reused'

  const path = (req.url ?? '').split('?')[0]
  const expected = createHmac('sha256', account.key)
    .update(`${authData}${path}\nx-akamai-acs-action:${action}\n`)
    .digest()
  const given = Buffer.from(sign, 'base64')
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return 'signature does not match'
  }
  if (!path.startsWith(`/${account.cpCode}/`)) return 'path outside the CP code'
  seen.add(`${time}/${uniqueId}`)
  return null
}

/** Starts the receiver on a free loopback port. */
export function startNetStorageReceiver(account: NetStorageAccount): Promise<RunningServer> {
  const files = new Map<string, StoredFile>()
  const seen = new Set<string>()

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://receiver')
    if (url.pathname === '/__files') {
      const prefix = url.searchParams.get('prefix') ?? '/'
      const listed = [...files]
        .filter(([path]) => path.startsWith(prefix))
        .map(([path, file]) => ({
          path,
          size: file.bytes.length,
          sha256: createHash('sha256').update(file.bytes).digest('hex'),
          contentType: file.contentType,
        }))
        .sort((a, b) => (a.path < b.path ? -1 : 1))
      return answer(res, 200, JSON.stringify(listed), 'application/json')
    }
    if (url.pathname === '/__file') {
      const file = files.get(url.searchParams.get('path') ?? '')
      if (!file) return answer(res, 404)
      res.writeHead(200, { 'content-type': file.contentType })
      return res.end(file.bytes)
    }

    const problem = netStorageProblem(req, account, seen)
    if (problem) {
      req.resume()
      return answer(res, 403, `Forbidden: ${problem}`)
    }
    const action = new URLSearchParams(String(req.headers['x-akamai-acs-action']))
    if (action.get('version') !== '1') return answer(res, 400, 'version must be 1')
    const path = decodeURIComponent(url.pathname).replace(/\/+$/, '')

    switch (`${req.method} ${action.get('action')}`) {
      case 'PUT upload': {
        if (req.headers['content-length'] === undefined) return answer(res, 411)
        const bytes = await readBody(req)
        const contentType = String(req.headers['content-type'] ?? 'application/octet-stream')
        files.set(path, { bytes, contentType, mtime: Math.floor(Date.now() / 1000) })
        return answer(res, 200, 'Request Processed.')
      }
      case 'GET download': {
        const file = files.get(path)
        if (!file) return answer(res, 404)
        const range = /^bytes=(\d+)-(\d+)$/.exec(String(req.headers.range ?? ''))
        if (!range) {
          res.writeHead(200, { 'content-length': file.bytes.length })
          return res.end(file.bytes)
        }
        const start = Number(range[1])
        const end = Math.min(Number(range[2]), file.bytes.length - 1)
        res.writeHead(206, {
          'content-range': `bytes ${start}-${end}/${file.bytes.length}`,
          'content-length': end - start + 1,
        })
        return res.end(file.bytes.subarray(start, end + 1))
      }
      case 'GET stat': {
        const file = files.get(path)
        if (!file) return answer(res, 404)
        const name = path.split('/').pop() ?? ''
        const dir = path.slice(0, -name.length - 1)
        return answer(
          res,
          200,
          `<stat directory="${escapeXml(dir)}"><file type="file" name="${escapeXml(name)}" size="${file.bytes.length}" mtime="${file.mtime}"/></stat>`,
          'text/xml',
        )
      }
      case 'GET dir': {
        const entries = new Map<string, string>()
        for (const [key, file] of files) {
          if (!key.startsWith(`${path}/`)) continue
          const [head, ...rest] = key.slice(path.length + 1).split('/')
          if (rest.length) entries.set(head, '<file type="dir" name="NAME"/>')
          else entries.set(head, `<file type="file" name="NAME" size="${file.bytes.length}"/>`)
        }
        if (entries.size === 0) return answer(res, 404)
        const body = [...entries]
          .map(([name, xml]) => xml.replace('NAME', escapeXml(name)))
          .join('')
        return answer(res, 200, `<stat directory="${escapeXml(path)}">${body}</stat>`, 'text/xml')
      }
      case 'POST delete':
      case 'PUT delete': {
        if (!files.delete(path)) return answer(res, 404)
        return answer(res, 200, 'Request Processed.')
      }
      default:
        return answer(res, 400, `unsupported ${req.method} ${action.get('action')}`)
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error) => answer(res, 500, String(error)))
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
