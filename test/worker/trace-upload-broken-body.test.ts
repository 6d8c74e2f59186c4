/**
 * A launcher that goes away in the middle of a trace upload: the body it announced never
 * arrives whole. That is the client's doing, so it is a 400 logged as a warning, never a 500
 * logged as an unhandled error, and nothing of the half body is kept.
 */
import { createExecutionContext, SELF, waitOnExecutionContext } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { eq } from 'drizzle-orm'
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { dbOf } from '../../src/db/client'
import { traces } from '../../src/db/schema'
import worker from '../../src/index'
import { appPrefix } from '../../src/storage/keys'
import { allKeys } from './build-fixtures'
import { newOrg } from './fixtures'
import { BASE } from './helpers'
import {
  appWithBuild,
  gzip,
  playedSession,
  type TrainingApp,
  traceFile,
  traceHeaders,
} from './training-fixtures'

let app: TrainingApp

beforeAll(async () => {
  app = await appWithBuild(await newOrg('tracebreak'))
}, 60_000)

afterEach(() => {
  vi.restoreAllMocks()
})

/** `bytes` cut after `sent` bytes, then ended as `end` says: failed (a lost connection) or closed. */
function cutOff(
  bytes: Uint8Array,
  sent: number,
  end: 'fail' | 'close',
): ReadableStream<Uint8Array> {
  let given = false
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (!given) {
        given = true
        return controller.enqueue(bytes.slice(0, sent))
      }
      if (end === 'close') return controller.close()
      controller.error(new Error('Network connection lost.'))
    },
  })
}

interface LogLine {
  level: string
  msg: string
  [fact: string]: unknown
}

/** What `run` answered, with the Worker's JSON log lines meanwhile. */
async function logged(run: () => Response | Promise<Response>) {
  const lines: LogLine[] = []
  const keep = (...args: unknown[]) => {
    try {
      lines.push(JSON.parse(String(args[0])))
    } catch {
      // not one of the Worker's JSON lines
    }
  }
  vi.spyOn(console, 'error').mockImplementation(keep)
  vi.spyOn(console, 'warn').mockImplementation(keep)
  vi.spyOn(console, 'log').mockImplementation(keep)
  const response = await run()
  return { status: response.status, body: await response.json<Record<string, unknown>>(), lines }
}

function traceRequest(body: ReadableStream<Uint8Array>, headers: Record<string, string>) {
  return new Request(`${BASE}/client/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson', ...traceHeaders(app), ...headers },
    body,
    duplex: 'half',
  } as RequestInit)
}

async function expectEndedEarly(answer: Awaited<ReturnType<typeof logged>>) {
  expect(answer.status, JSON.stringify(answer.body)).toBe(400)
  expect(answer.body).toMatchObject({
    status: 'error',
    code: 'invalidParam',
    message: 'the request body ended early',
  })
  expect(answer.lines.filter((line) => line.level === 'error')).toEqual([])
  const warning = answer.lines.find((line) => line.msg === 'request body ended early')
  expect(warning?.level).toBe('warn')
  expect(JSON.stringify(warning)).not.toMatch(/stack| {4}at /)
  expect(await allKeys(`${appPrefix(app.orgId, app.appId)}traces/`)).toEqual([])
  const rows = await dbOf(env).select().from(traces).where(eq(traces.appId, app.appId)).all()
  expect(rows).toEqual([])
}

const text = new TextEncoder().encode(traceFile(playedSession(1)))

describe('POST /client/v1/traces with a body that breaks off', () => {
  const cases: [string, () => Promise<Uint8Array>, Record<string, string>, boolean][] = [
    ['plain, with Content-Length', async () => text, {}, true],
    ['plain, without Content-Length', async () => text, {}, false],
    ['gzip, with Content-Length', () => gzip(text), { 'content-encoding': 'gzip' }, true],
    ['gzip, without Content-Length', () => gzip(text), { 'content-encoding': 'gzip' }, false],
  ]

  // Through the Worker's fetch itself: a stream that fails is what workerd gives a Worker
  // whose client closed the connection mid-body ("Network connection lost.").
  it.each(cases)(
    'answers 400 and warns, keeping nothing (%s)',
    async (_what, bodyOf, extra, withLength) => {
      const bytes = await bodyOf()
      const headers = withLength ? { ...extra, 'content-length': String(bytes.length) } : extra
      const body = cutOff(bytes, Math.floor(bytes.length / 2), 'fail')
      const ctx = createExecutionContext()
      const answer = await logged(() => worker.fetch(traceRequest(body, headers), env, ctx))
      await waitOnExecutionContext(ctx)
      await expectEndedEarly(answer)
    },
  )
})

describe('POST /client/v1/traces with a body shorter than its Content-Length', () => {
  it.each([
    ['plain', async () => text, {}],
    ['gzip', () => gzip(text), { 'content-encoding': 'gzip' }],
  ] as const)('answers 400 and warns, keeping nothing (%s)', async (_what, bodyOf, extra) => {
    const bytes = await bodyOf()
    const body = cutOff(bytes, Math.floor(bytes.length / 2), 'close')
    const headers = { ...extra, 'content-length': String(bytes.length) }
    await expectEndedEarly(await logged(() => SELF.fetch(traceRequest(body, headers))))
  })
})
