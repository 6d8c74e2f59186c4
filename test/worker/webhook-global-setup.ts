/**
 * A real webhook receiver for the worker tests, running in Node beside the pool. A control server
 * on 127.0.0.1 makes receivers on demand, each on its own port so test files (which run side by
 * side) and tests never share one:
 *
 * - `POST /receivers` -> `{id, url}`: a new receiver answering 200.
 * - `POST /receivers/<id>` `{"mode": "ok" | "fail" | "hang" | "down"}`: answer 200, answer 500,
 *   never answer, or close the listening socket (connection refused). Any other mode after
 *   `down` listens again on the same port.
 * - `GET /receivers/<id>/received`: every request so far, `{method, path, headers, body, sha256,
 *   answered, at}`; `sha256` is computed here from the raw bytes, independently of the Worker.
 *
 * The control port reaches the tests through `provide('webhookControl', url)`.
 */
import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { TestProject } from 'vitest/node'

type Mode = 'ok' | 'fail' | 'hang' | 'down'

interface Received {
  method: string
  path: string
  headers: Record<string, string | string[] | undefined>
  body: string
  sha256: string
  /** The status answered, or null when the receiver hung. */
  answered: number | null
  at: number
}

interface Receiver {
  id: string
  server: Server
  port: number
  mode: Mode
  received: Received[]
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** Base URL of the webhook receivers' control server, e.g. `http://127.0.0.1:41234`. */
    webhookControl: string
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject)
      resolve((server.address() as AddressInfo).port)
    })
  })
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve()
    server.close(() => resolve())
    // Keep-alive and hung connections would keep the port answering: cut them too.
    server.closeAllConnections()
  })
}

function json(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(body))
}

function receiverServer(receiver: () => Receiver): Server {
  return createServer(async (req, res) => {
    const raw = await readBody(req)
    const self = receiver()
    const answered = self.mode === 'ok' ? 200 : self.mode === 'fail' ? 500 : null
    self.received.push({
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      body: raw.toString('utf8'),
      sha256: createHash('sha256').update(raw).digest('hex'),
      answered,
      at: Date.now(),
    })
    if (answered === 200) json(res, 200, { ok: true })
    else if (answered === 500) json(res, 500, { error: 'receiver told to fail' })
    // hang: leave the request open until the Worker gives up or the receiver goes down
  })
}

export default async function webhookReceivers({ provide }: TestProject) {
  const receivers = new Map<string, Receiver>()
  let next = 0

  const control = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://control')
    const body = await readBody(req)
    try {
      if (req.method === 'POST' && url.pathname === '/receivers') {
        const id = `r${++next}`
        const server = receiverServer(() => receivers.get(id) as Receiver)
        const port = await listen(server, 0)
        receivers.set(id, { id, server, port, mode: 'ok', received: [] })
        return json(res, 201, { id, url: `http://127.0.0.1:${port}` })
      }
      const match = url.pathname.match(/^\/receivers\/(r\d+)(\/received)?$/)
      const receiver = match && receivers.get(match[1])
      if (!receiver) return json(res, 404, { error: 'no such receiver' })
      if (req.method === 'GET' && match[2]) return json(res, 200, receiver.received)
      if (req.method === 'POST' && !match[2]) {
        const mode = JSON.parse(body.toString('utf8')).mode as Mode
        if (!['ok', 'fail', 'hang', 'down'].includes(mode)) {
          return json(res, 400, { error: `unknown mode ${mode}` })
        }
        if (mode === 'down') await closeServer(receiver.server)
        else if (!receiver.server.listening) await listen(receiver.server, receiver.port)
        receiver.mode = mode
        return json(res, 200, { id: receiver.id, mode })
      }
      return json(res, 405, { error: 'method not allowed' })
    } catch (error) {
      return json(res, 500, { error: String(error) })
    }
  })
  const port = await listen(control, 0)
  provide('webhookControl', `http://127.0.0.1:${port}`)

  return async () => {
    await Promise.all([...receivers.values()].map((r) => closeServer(r.server)))
    await closeServer(control)
  }
}
