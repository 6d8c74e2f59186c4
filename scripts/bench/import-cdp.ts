/**
 * A small Chrome DevTools Protocol client for the import benchmark: enough WebSocket (RFC 6455,
 * client side, text frames) to send a command to one isolate of the local workerd runtime and
 * read its answer, with a timeout on everything, so a busy isolate never blocks the benchmark.
 * Loopback only: it refuses any other host.
 */
import { randomBytes } from 'node:crypto'
import { request } from 'node:http'
import type { Socket } from 'node:net'

/** An isolate as the runtime's inspector lists it (`GET /json`). */
export interface InspectorTarget {
  id: string
  webSocketDebuggerUrl: string
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]'])

function loopbackUrl(text: string): URL {
  const url = new URL(text)
  if (!LOOPBACK.has(url.hostname)) throw new Error(`${text} is not on loopback`)
  return url
}

/** The isolates the inspector at `127.0.0.1:port` lists; undefined when it does not answer. */
export async function listTargets(
  port: number,
  timeoutMs = 2000,
): Promise<InspectorTarget[] | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/json`, {
      signal: AbortSignal.timeout(timeoutMs),
    })
    if (!response.ok) return undefined
    const list = (await response.json()) as unknown
    if (!Array.isArray(list)) return undefined
    return list.filter(
      (entry): entry is InspectorTarget =>
        typeof entry?.id === 'string' && typeof entry?.webSocketDebuggerUrl === 'string',
    )
  } catch {
    return undefined
  }
}

/** One frame to the server: masked, as a client must send it. */
function encodeFrame(text: string): Buffer {
  const payload = Buffer.from(text)
  const length = payload.length
  const head =
    length < 126
      ? Buffer.from([0x81, 0x80 | length])
      : length < 65_536
        ? Buffer.from([0x81, 0x80 | 126, length >> 8, length & 0xff])
        : Buffer.concat([Buffer.from([0x81, 0x80 | 127]), bigLength(length)])
  const mask = randomBytes(4)
  const masked = Buffer.alloc(length)
  for (let i = 0; i < length; i++) masked[i] = payload[i] ^ mask[i & 3]
  return Buffer.concat([head, mask, masked])
}

function bigLength(length: number): Buffer {
  const bytes = Buffer.alloc(8)
  bytes.writeBigUInt64BE(BigInt(length))
  return bytes
}

/** Splits whole frames off `buffer`: [opcode, payload] each, and what is left over. */
function decodeFrames(buffer: Buffer): { frames: Array<[number, Buffer]>; rest: Buffer } {
  const frames: Array<[number, Buffer]> = []
  let at = 0
  for (;;) {
    if (buffer.length - at < 2) break
    const opcode = buffer[at] & 0x0f
    let length = buffer[at + 1] & 0x7f
    let start = at + 2
    if (length === 126) {
      if (buffer.length - at < 4) break
      length = buffer.readUInt16BE(at + 2)
      start = at + 4
    } else if (length === 127) {
      if (buffer.length - at < 10) break
      length = Number(buffer.readBigUInt64BE(at + 2))
      start = at + 10
    }
    if (buffer.length < start + length) break
    frames.push([opcode, buffer.subarray(start, start + length)])
    at = start + length
  }
  return { frames, rest: buffer.subarray(at) }
}

/** A CDP session with one isolate. */
export class CdpSession {
  private nextId = 1
  private pending = new Map<number, (answer: Record<string, unknown>) => void>()
  private buffer: Buffer = Buffer.alloc(0)
  private text: Buffer[] = []
  private closed = false

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.receive(chunk))
    socket.on('close', () => {
      this.closed = true
    })
    socket.on('error', () => {
      this.closed = true
    })
  }

  /** Opens a session with the isolate at `wsUrl` (loopback only). */
  static open(wsUrl: string, timeoutMs = 5000): Promise<CdpSession> {
    const url = loopbackUrl(wsUrl.replace(/^ws:/, 'http:'))
    return new Promise((resolve, reject) => {
      const req = request({
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        timeout: timeoutMs,
        headers: {
          Connection: 'Upgrade',
          Upgrade: 'websocket',
          'Sec-WebSocket-Version': '13',
          'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
        },
      })
      req.on('upgrade', (_response, socket, head) => {
        const session = new CdpSession(socket)
        if (head.length) session.receive(head)
        resolve(session)
      })
      req.on('response', (response) => {
        response.resume()
        reject(new Error(`${wsUrl} answered ${response.statusCode} instead of upgrading`))
      })
      req.on('timeout', () => req.destroy(new Error(`${wsUrl} did not upgrade in ${timeoutMs} ms`)))
      req.on('error', reject)
      req.end()
    })
  }

  get isOpen(): boolean {
    return !this.closed
  }

  private receive(chunk: Buffer) {
    const { frames, rest } = decodeFrames(Buffer.concat([this.buffer, chunk]))
    this.buffer = rest
    for (const [opcode, payload] of frames) {
      if (opcode === 0x8) this.close()
      else if (opcode === 0x9) this.socket.write(this.control(0xa, payload))
      else if (opcode === 0x1 || opcode === 0x0) {
        this.text.push(payload)
        // A message ends with a frame whose FIN bit is set; CDP answers are small, but a long
        // one may come in pieces.
        this.deliver()
      }
    }
  }

  private control(opcode: number, payload: Buffer): Buffer {
    const mask = randomBytes(4)
    const masked = Buffer.from(payload.map((byte, i) => byte ^ mask[i & 3]))
    return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length]), mask, masked])
  }

  private deliver() {
    const joined = Buffer.concat(this.text).toString()
    let message: { id?: number } & Record<string, unknown>
    try {
      message = JSON.parse(joined)
    } catch {
      return // not whole yet
    }
    this.text = []
    if (typeof message.id === 'number') {
      this.pending.get(message.id)?.(message)
      this.pending.delete(message.id)
    }
  }

  /** Sends `method` and answers its result; rejects after `timeoutMs` or on a CDP error. */
  send(
    method: string,
    params: Record<string, unknown> = {},
    timeoutMs = 5000,
  ): Promise<Record<string, unknown>> {
    if (this.closed) return Promise.reject(new Error('the inspector session is closed'))
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`${method} got no answer in ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(id, (answer) => {
        clearTimeout(timer)
        if (answer.error) reject(new Error(`${method}: ${JSON.stringify(answer.error)}`))
        else resolve((answer.result ?? {}) as Record<string, unknown>)
      })
      this.socket.write(encodeFrame(JSON.stringify({ id, method, params })))
    })
  }

  /** Closes the session. */
  close() {
    if (this.closed) return
    this.closed = true
    this.socket.end(this.control(0x8, Buffer.alloc(0)))
    this.socket.destroy()
    for (const [id] of this.pending) this.pending.delete(id)
  }
}
