import { env } from 'cloudflare:workers'
import { eq } from 'drizzle-orm'
import { beforeAll, describe, expect, it } from 'vitest'
import { dbOf } from '../../src/db/client'
import { traces } from '../../src/db/schema'
import { MAX_DURATION_MS } from '../../src/domain/traces/read-trace'
import { TRACE_UPLOAD_LIMIT } from '../../src/domain/traces/upload-limits'
import { decodeNormalisedTrace } from '../../src/engine/trace-codec'
import { appPrefix, buildIdText, imageKeys } from '../../src/storage/keys'
import { allKeys, readImageHeader } from './build-fixtures'
import { newOrg, type OrgFixture } from './fixtures'
import { type Answer, call } from './helpers'
import {
  appWithBuild,
  BLOCK,
  gzip,
  playedSession,
  sessionId,
  type TrainingApp,
  traceFile,
  traceHeaders,
  uploadTrace,
} from './training-fixtures'

let org: OrgFixture
let app: TrainingApp

beforeAll(async () => {
  org = await newOrg('traces')
  app = await appWithBuild(org)
}, 60_000)

/** Gzip of `head` followed by `size` bytes of `fill`, compressed as it is generated. */
async function gzipOf(head: Uint8Array, size: number, fill: number): Promise<Uint8Array> {
  const piece = new Uint8Array(1024 * 1024).fill(fill)
  let left = size
  const text = new ReadableStream<Uint8Array>({
    start(controller) {
      if (head.length > 0) controller.enqueue(head)
    },
    pull(controller) {
      if (left <= 0) return controller.close()
      controller.enqueue(piece.subarray(0, Math.min(piece.length, left)))
      left -= piece.length
    },
  })
  const compressed = text.pipeThrough(new CompressionStream('gzip'))
  return new Uint8Array(await new Response(compressed).arrayBuffer())
}

/** Expects a 422 naming `line` in the details and the message. */
function expectBadLine(answer: Answer, line: number, reason: RegExp) {
  expect(answer.status, JSON.stringify(answer.body)).toBe(422)
  expect(answer.body.code).toBe('unprocessable')
  expect(answer.body.message).toContain(`line ${line}`)
  expect(answer.body.details).toHaveLength(1)
  expect(answer.body.details[0].line).toBe(line)
  expect(answer.body.details[0].reason).toMatch(reason)
}

describe('POST /client/v1/traces accepts a trace and keeps it', () => {
  it('answers 202 with a traceId only once the trace is in D1 and R2', async () => {
    const id = sessionId()
    const answer = await uploadTrace(app, traceFile(playedSession(1), { sessionId: id }))
    expect(answer.status, JSON.stringify(answer.body)).toBe(202)
    expect(answer.body).toMatchObject({ status: 'success', traceId: expect.any(String) })
    expect(answer.body.message).toEqual(expect.any(String))

    const row = await dbOf(env)
      .select()
      .from(traces)
      .where(eq(traces.id, answer.body.traceId))
      .get()
    expect(row).toMatchObject({
      appId: app.appId,
      buildId: app.buildId,
      sessionId: id,
      reads: 3,
      durationMs: 600_000,
    })
    // boot.bin (2 blocks) + late.pak (12 blocks) + 4 blocks of a pack.
    expect(row?.blocksTouched).toBe(18)
    const raw = await env.BUCKET.get(row!.rawKey)
    expect(await raw?.text()).toContain(`"sessionId":"${id}"`)
    const normalised = await env.BUCKET.get(row!.normKey)
    const decoded = decodeNormalisedTrace(new Uint8Array(await normalised!.arrayBuffer()))
    expect(decoded.header.sessionId).toBe(id)
    expect(decoded.firstAccess.blocks.length).toBe(18)
  })

  it('answers the same session again with 200 and the first traceId, storing nothing new', async () => {
    const body = traceFile(playedSession(2))
    const first = await uploadTrace(app, body)
    expect(first.status).toBe(202)
    const again = await uploadTrace(app, body)
    expect(again.status).toBe(200)
    expect(again.body).toMatchObject({ status: 'success', traceId: first.body.traceId })
    const rows = await dbOf(env).select().from(traces).where(eq(traces.appId, app.appId)).all()
    expect(
      rows.filter((row) => row.sessionId === JSON.parse(body.split('\n')[0]).sessionId),
    ).toHaveLength(1)
  })

  it('takes a gzip body sent with Content-Encoding: gzip', async () => {
    const answer = await uploadTrace(app, await gzip(traceFile(playedSession(3))), {
      'content-encoding': 'gzip',
    })
    expect(answer.status, JSON.stringify(answer.body)).toBe(202)
    const row = await dbOf(env)
      .select()
      .from(traces)
      .where(eq(traces.id, answer.body.traceId))
      .get()
    expect(row?.blocksTouched).toBe(18)
  })

  it('maps reads by image offset ("@") through the current image', async () => {
    // Image offsets count from the start of image.dxf: its block data follows the header.
    const key = imageKeys(app.orgId, app.appId, `dxf-${buildIdText(app.buildId)}-01`).image
    const { headerLength } = await readImageHeader(key)
    const answer = await uploadTrace(app, traceFile([[0, '@', headerLength, BLOCK]]))
    expect(answer.status, JSON.stringify(answer.body)).toBe(202)
    const row = await dbOf(env)
      .select()
      .from(traces)
      .where(eq(traces.id, answer.body.traceId))
      .get()
    expect(row?.blocksTouched).toBe(1)
  })

  it('takes a trace of a kept build named in the header', async () => {
    const answer = await uploadTrace(app, traceFile(playedSession(4), { buildName: app.buildName }))
    expect(answer.status).toBe(202)
  })
})

describe('POST /client/v1/traces refuses a trace that does not fit its build with 422', () => {
  it('names an unknown path', async () => {
    const answer = await uploadTrace(
      app,
      traceFile([
        [0, 'game/boot.bin', 0, 10],
        [1, 'game/nothing.pak', 0, 10],
      ]),
    )
    expectBadLine(answer, 3, /unknown path "game\/nothing.pak"/)
  })

  it('names a read past the end of its file', async () => {
    const answer = await uploadTrace(app, traceFile([[0, 'game/boot.bin', 2 * BLOCK - 5, 10]]))
    expectBadLine(answer, 2, /read outside "game\/boot.bin"/)
  })

  it('names a time going back', async () => {
    const answer = await uploadTrace(
      app,
      traceFile([
        [100, 'game/boot.bin', 0, 10],
        [200, 'game/boot.bin', 10, 10],
        [150, 'game/boot.bin', 20, 10],
      ]),
    )
    expectBadLine(answer, 4, /time goes back/)
  })

  it('names a broken line', async () => {
    const text = `${traceFile([[0, 'game/boot.bin', 0, 10]])}[1, "game/boot.bin", 0\n`
    expectBadLine(await uploadTrace(app, text), 3, /not valid JSON/)
  })

  it('names line 1 for a header that is not a trace header', async () => {
    expectBadLine(await uploadTrace(app, '{"format":"other"}\n'), 1, /format/)
    expectBadLine(await uploadTrace(app, ''), 1, /empty|header/)
  })

  it('names line 1 for a build the app does not keep', async () => {
    const answer = await uploadTrace(app, traceFile(playedSession(1), { buildName: 'build-9999' }))
    expectBadLine(answer, 1, /build-9999.*not a kept build/)
  })

  it('echoes at most the first 100 characters of a header value or path it refuses', async () => {
    const long = 'b'.repeat(60_000)
    const cut = `"${'b'.repeat(100)}…" (60000 characters)`
    const refusals: [BodyInit, number, string][] = [
      [traceFile([], { buildName: long }), 1, `buildName ${cut} is not a kept build of the app`],
      [`${JSON.stringify({ [long]: 1 })}\n`, 1, `unknown header field ${cut}`],
      [traceFile([[0, long, 0, 1]]), 2, `unknown path ${cut}`],
    ]
    for (const [body, line, reason] of refusals) {
      const answer = await uploadTrace(app, body)
      expectBadLine(answer, line, /./)
      expect(answer.body.details[0].reason).toBe(reason)
      expect(answer.body.message).toBe(`line ${line}: ${reason}`)
      expect(JSON.stringify(answer.body).length).toBeLessThan(1000)
    }
  })

  it('names a line longer than any read line can be', async () => {
    const text = `${traceFile([[0, 'game/boot.bin', 0, 10]])}${'['.repeat(100_000)}\n`
    expectBadLine(await uploadTrace(app, text), 3, /longer than/)
  })

  it('names the line where gzip data breaks off', async () => {
    const whole = await gzip(traceFile(playedSession(1)))
    const broken = whole.slice()
    broken.fill(0xff, 30)
    const answer = await uploadTrace(app, broken, { 'content-encoding': 'gzip' })
    expectBadLine(answer, 1, /gzip data is corrupt/)

    const reads: [number, string, number, number][] = []
    for (let i = 0; i < 2000; i++) reads.push([i, 'game/boot.bin', i % BLOCK, 1])
    const long = await gzip(traceFile(reads))
    const cut = long.slice(0, long.length - 12)
    const late = await uploadTrace(app, cut, { 'content-encoding': 'gzip' })
    expect(late.status).toBe(422)
    expect(late.body.details[0].reason).toMatch(/gzip data is corrupt/)
    expect(late.body.details[0].line).toBeGreaterThan(100)
  })

  it('names line 1 for a durationMs over 7 days, and takes 7 days exactly', async () => {
    const reads = playedSession(1)
    for (const durationMs of [Number.MAX_SAFE_INTEGER, MAX_DURATION_MS + 1]) {
      const answer = await uploadTrace(app, traceFile(reads, { durationMs }))
      expectBadLine(answer, 1, /durationMs must be at most 604800000/)
    }
    const week = await uploadTrace(app, traceFile(reads, { durationMs: MAX_DURATION_MS }))
    expect(week.status, JSON.stringify(week.body)).toBe(202)
  })

  it('names line 1 for a durationMs before the last read', async () => {
    const reads = playedSession(1) // the last read is at 60,001 ms
    const short = await uploadTrace(app, traceFile(reads, { durationMs: 60_000 }))
    expectBadLine(short, 1, /durationMs 60000 is before the last read \(tMs 60001\)/)
    const none = await uploadTrace(app, traceFile(reads, { durationMs: 0 }))
    expectBadLine(none, 1, /before the last read/)

    const exact = await uploadTrace(app, traceFile(reads, { durationMs: 60_001 }))
    expect(exact.status, JSON.stringify(exact.body)).toBe(202)
    const row = await dbOf(env).select().from(traces).where(eq(traces.id, exact.body.traceId)).get()
    expect(row?.durationMs).toBe(60_001)
  })

  it('names an image read that falls in the image header', async () => {
    expectBadLine(await uploadTrace(app, traceFile([[0, '@', 0, 10]])), 2, /outside the image/)
  })

  it('stores nothing for a refused trace', async () => {
    const id = sessionId()
    await uploadTrace(app, traceFile([[0, 'nope', 0, 1]], { sessionId: id }))
    const rows = await dbOf(env).select().from(traces).where(eq(traces.sessionId, id)).all()
    expect(rows).toHaveLength(0)
  })
})

describe('POST /client/v1/traces refusals leave nothing', () => {
  it('keeps no copy in R2 of any refused body, however early it was refused', async () => {
    const own = await appWithBuild(org)
    const prefix = `${appPrefix(own.orgId, own.appId)}traces/`
    const header = (extra: Record<string, unknown>) =>
      `${JSON.stringify({ format: 'rockit-trace/1', sessionId: sessionId(), durationMs: 1000, ...extra })}\n`
    const corrupt = (await gzip(traceFile(playedSession(1)))).fill(0xff, 30)
    const refusals: [string, BodyInit, Record<string, string>][] = [
      ['unknown header field', header({ evil: 1 }), {}],
      ['durationMs over 7 days', header({ durationMs: MAX_DURATION_MS + 1 }), {}],
      ['another format', header({ format: 'rockit-trace/2' }), {}],
      ['line 1 not JSON', 'hello\n', {}],
      ['empty body', '', {}],
      ['corrupt gzip', corrupt, { 'content-encoding': 'gzip' }],
      ['unknown path', traceFile([[0, 'nope', 0, 1]]), {}],
    ]
    for (const [what, body, headers] of refusals) {
      const answer = await uploadTrace(own, body, headers)
      expect(answer.status, what).toBe(422)
      expect(await allKeys(prefix), what).toEqual([])
    }
    const rows = await dbOf(env).select().from(traces).where(eq(traces.appId, own.appId)).all()
    expect(rows).toHaveLength(0)
  })
})

describe('POST /client/v1/traces limits', () => {
  it('refuses more than 2,000,000 reads with 413', async () => {
    const line = '[0,"game/boot.bin",0,1]\n'
    const text = traceFile([]) + line.repeat(2_000_001)
    const answer = await uploadTrace(app, await gzip(text), { 'content-encoding': 'gzip' })
    expect(answer.status, JSON.stringify(answer.body)).toBe(413)
    expect(answer.body.message).toMatch(/2000000 reads/)
  }, 60_000)

  it('refuses a body announced over 64 MiB with 413 before reading it', async () => {
    const size = 64 * 1024 * 1024 + 1
    let pulled = 0
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        const chunk = new Uint8Array(Math.min(1024 * 1024, size - pulled))
        pulled += chunk.length
        controller.enqueue(chunk)
        if (pulled === size) controller.close()
      },
    })
    const answer = await uploadTrace(app, body, {
      'content-encoding': 'gzip',
      'content-length': String(size),
    })
    expect(answer.status).toBe(413)
    expect(answer.body.code).toBe('tooLarge')
    expect(pulled).toBeLessThan(size)
  })

  it('stops a small gzip that inflates past 64 MiB with 413, quickly', async () => {
    const header = traceFile([])
    const blank = new Uint8Array(70 * 1024 * 1024).fill(0x0a)
    const whole = new Uint8Array(header.length + blank.length)
    whole.set(new TextEncoder().encode(header))
    whole.set(blank, header.length)
    const bomb = await gzip(whole)
    expect(bomb.length).toBeLessThan(1024 * 1024)

    const started = Date.now()
    const answer = await uploadTrace(app, bomb, { 'content-encoding': 'gzip' })
    expect(answer.status, JSON.stringify(answer.body)).toBe(413)
    expect(answer.body.message).toMatch(/larger than 67108864 bytes/)
    expect(Date.now() - started).toBeLessThan(5_000)
  }, 60_000)
})

describe('POST /client/v1/traces and gzip bombs', () => {
  it('stops a bomb of 512 MiB with 413 at once and keeps serving', async () => {
    const header = new TextEncoder().encode(traceFile([]))
    const bomb = await gzipOf(header, 512 * 1024 * 1024, 0x0a)
    expect(bomb.length).toBeLessThan(1024 * 1024)

    const started = Date.now()
    const answer = await uploadTrace(app, bomb, { 'content-encoding': 'gzip' })
    const refusedMs = Date.now() - started
    expect(answer.status, JSON.stringify(answer.body)).toBe(413)
    expect(answer.body.message).toMatch(/larger than 67108864 bytes/)
    // Inflating all of it takes several seconds here; 64 MiB well under one.
    expect(refusedMs).toBeLessThan(2_500)

    const next = Date.now()
    const normal = await uploadTrace(app, traceFile(playedSession(2)))
    expect(normal.status, JSON.stringify(normal.body)).toBe(202)
    expect(Date.now() - next).toBeLessThan(2_000)
  }, 60_000)

  it('stops a bomb of zeros inside its first line the same way', async () => {
    const bomb = await gzipOf(new Uint8Array(0), 512 * 1024 * 1024, 0)
    const started = Date.now()
    const answer = await uploadTrace(app, bomb, { 'content-encoding': 'gzip' })
    expect(answer.status, JSON.stringify(answer.body)).toBe(413)
    expect(Date.now() - started).toBeLessThan(2_500)
  }, 60_000)
})

describe('POST /client/v1/traces refusals before the body', () => {
  it('answers 401 for a wrong or missing trace key, naming nothing', async () => {
    const wrong = await uploadTrace(app, traceFile(playedSession(1)), {
      'x-rockit-trace-key': 'rkt_not-the-key',
    })
    expect(wrong.status).toBe(401)
    const otherApp = await uploadTrace(app, traceFile(playedSession(1)), {
      'x-rockit-appname': 'no_such_app',
    })
    expect(otherApp.status).toBe(401)
    const none = await call('POST', '/client/v1/traces', {
      raw: traceFile(playedSession(1)),
      headers: { 'content-type': 'application/x-ndjson' },
    })
    expect(none.status).toBe(401)
    expect(none.body.code).toBe('unauthenticated')
  })

  it('answers 415 for another content type or encoding', async () => {
    const json = await uploadTrace(app, traceFile(playedSession(1)), {
      'content-type': 'application/json',
    })
    expect(json.status).toBe(415)
    const brotli = await uploadTrace(app, traceFile(playedSession(1)), { 'content-encoding': 'br' })
    expect(brotli.status).toBe(415)
  })

  it('answers 409 while the app takes no traces', async () => {
    const patched = await call('PATCH', '/be/v1/trainings', {
      headers: org.headers,
      body: { appName: app.name, uploadTrace: false },
    })
    expect(patched.status).toBe(200)
    const refused = await uploadTrace(app, traceFile(playedSession(1)))
    expect(refused.status).toBe(409)
    expect(refused.body.message).toMatch(/uploadTrace/)

    await call('PATCH', '/be/v1/trainings', {
      headers: org.headers,
      body: { appName: app.name, uploadTrace: true },
    })
    expect((await uploadTrace(app, traceFile(playedSession(1)))).status).toBe(202)
  })

  it('answers 429 with Retry-After past the per-app rate', async () => {
    const busy = await appWithBuild(org)
    const total = TRACE_UPLOAD_LIMIT.uploads + 15
    const answers = await Promise.all(
      Array.from({ length: total }, (_, i) => uploadTrace(busy, traceFile(playedSession(i)))),
    )
    const limited = answers.filter((answer) => answer.status === 429)
    expect(limited.length).toBeGreaterThan(0)
    expect(answers.filter((answer) => answer.status === 202).length).toBeLessThanOrEqual(
      TRACE_UPLOAD_LIMIT.uploads,
    )
    expect(Number(limited[0].headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(limited[0].body.code).toBe('rateLimited')
    // Another app of the org is not held back.
    expect((await uploadTrace(app, traceFile(playedSession(1)))).status).toBe(202)
  }, 60_000)

  it('does not open the traces of one app to the key of another', async () => {
    const other = await appWithBuild(org)
    const answer = await uploadTrace(
      app,
      traceFile(playedSession(1)),
      traceHeaders({ ...other, name: app.name }),
    )
    expect(answer.status).toBe(401)
  }, 60_000)
})
