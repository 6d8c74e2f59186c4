/**
 * A real HTTP server on 127.0.0.1 for the `dltar` tests, running in Node beside the pool (the
 * Workers runtime cannot listen). It serves the tars of `servedTars()`:
 *
 * - `GET /tars/<name>`: honours `Range` (206 with `Content-Range`, 416 past the end).
 * - `GET /plain/<name>`: ignores `Range`, always 200 with the whole file.
 * - `GET /redirect/<name>`: 302 to `/tars/<name>`.
 * - `GET /drop/<name>`: announces the whole file, sends half, then cuts the connection.
 * - `GET /hang`: accepts and never answers.
 * - anything else: 404.
 *
 * `GET /log` lists the `Range` headers received so far (tests check that downloads are ranged).
 * The base URL reaches the tests through `provide('buildServer', url)`.
 */
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { TestProject } from 'vitest/node'
import { servedTars } from './tar-fixture'

declare module 'vitest' {
  export interface ProvidedContext {
    /** Base URL of the tar server, e.g. `http://127.0.0.1:41234`. */
    buildServer: string
  }
}

function sendRange(res: ServerResponse, bytes: Uint8Array, range: string | undefined) {
  const match = range?.match(/^bytes=(\d+)-(\d*)$/)
  if (!match) {
    res.writeHead(200, { 'content-length': bytes.length, 'accept-ranges': 'bytes' })
    res.end(Buffer.from(bytes))
    return
  }
  const first = Number(match[1])
  const last = Math.min(match[2] ? Number(match[2]) : bytes.length - 1, bytes.length - 1)
  if (first >= bytes.length) {
    res.writeHead(416, { 'content-range': `bytes */${bytes.length}` })
    res.end()
    return
  }
  res.writeHead(206, {
    'content-length': last - first + 1,
    'content-range': `bytes ${first}-${last}/${bytes.length}`,
  })
  res.end(Buffer.from(bytes.subarray(first, last + 1)))
}

export default async function setup(project: TestProject) {
  const tars = servedTars()
  const ranges: string[] = []
  const sockets = new Set<Socket>()
  const server = createServer((req, res) => {
    const [, route, name] = (req.url ?? '').split('/')
    const tar = name ? tars[decodeURIComponent(name)] : undefined
    ranges.push(`${req.url} ${req.headers.range ?? '-'}`)
    if (route === 'log') {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify(ranges))
    } else if (route === 'hang') {
      // Never answer; the socket is destroyed when the server closes.
    } else if (route === 'tars' && tar) {
      sendRange(res, tar, req.headers.range)
    } else if (route === 'plain' && tar) {
      sendRange(res, tar, undefined)
    } else if (route === 'redirect' && tar) {
      res.writeHead(302, { location: `/tars/${name}` })
      res.end()
    } else if (route === 'drop' && tar) {
      res.writeHead(200, { 'content-length': tar.length })
      res.write(Buffer.from(tar.subarray(0, tar.length >> 1)), () => req.socket.destroy())
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' })
      res.end('not here')
    }
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  project.provide('buildServer', `http://127.0.0.1:${port}`)

  return async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
}
