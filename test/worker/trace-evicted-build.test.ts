/**
 * A trace whose build is evicted while its body is still arriving: the header was checked
 * against a ready build, then eviction marked the build `deleted` before the trace row went in.
 * The upload takes itself back (422 on the header's line, no row, no objects) instead of
 * leaving a trace of a deleted build behind for good.
 */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { and, eq } from 'drizzle-orm'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { dbOf } from '../../src/db/client'
import { builds, traces } from '../../src/db/schema'
import type { Env } from '../../src/env'
import worker from '../../src/index'
import { appPrefix } from '../../src/storage/keys'
import { allKeys } from './build-fixtures'
import { newOrg } from './fixtures'
import { BASE } from './helpers'
import {
  appWithBuild,
  playedSession,
  type TrainingApp,
  traceFile,
  traceHeaders,
} from './training-fixtures'

let app: TrainingApp

beforeAll(async () => {
  app = await appWithBuild(await newOrg('traceevict'))
}, 60_000)

function setBuildState(state: string) {
  return dbOf(env)
    .update(builds)
    .set({ state })
    .where(and(eq(builds.appId, app.appId), eq(builds.buildId, app.buildId)))
}

afterEach(async () => {
  await setBuildState('ready')
})

/** The query that checks the header's build: a select from builds that wants it `ready`. */
const BUILD_CHECK = /from "builds".*"builds"\."state" = \?/s

/**
 * `real` with a hook: once the header's build has been checked (its select answered), `after`
 * runs before that answer reaches the upload, so the upload goes on with a build that changed.
 */
function afterBuildCheck(real: D1Database, after: () => Promise<void>): D1Database {
  let armed = true
  const hooked = (statement: D1PreparedStatement): D1PreparedStatement =>
    new Proxy(statement, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target)
        if (typeof value !== 'function') return value
        if (prop === 'bind') {
          return (...values: unknown[]) => hooked(value.apply(target, values))
        }
        if (!['all', 'raw', 'first', 'run'].includes(String(prop))) return value.bind(target)
        return async (...args: unknown[]) => {
          const result = await value.apply(target, args)
          if (armed) {
            armed = false
            await after()
          }
          return result
        }
      },
    })
  return new Proxy(real, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target)
      if (prop === 'prepare') {
        return (sql: string) => {
          const statement = target.prepare(sql)
          return armed && BUILD_CHECK.test(sql) ? hooked(statement) : statement
        }
      }
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

/**
 * `head` at once, the rest only once `released` resolves: the body is still arriving while
 * the build changes.
 */
function arriving(head: Uint8Array, rest: Uint8Array, released: Promise<void>) {
  let step = 0
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      step++
      if (step === 1) return controller.enqueue(head)
      if (step === 2) {
        await released
        return controller.enqueue(rest)
      }
      controller.close()
    },
  })
}

/** Uploads `text` through the Worker, running `change` right after the header's build check. */
async function uploadWhile(text: string, change: () => Promise<void>) {
  const bytes = new TextEncoder().encode(text)
  // Up to the end of the header line, the first that starts a JSON object.
  const cut = bytes.indexOf(0x0a, bytes.indexOf(0x7b)) + 1
  let release = () => {}
  const released = new Promise<void>((resolve) => {
    release = resolve
  })
  const db = afterBuildCheck(env.DB, async () => {
    await change()
    release()
  })
  const request = new Request(`${BASE}/client/v1/traces`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-ndjson',
      'content-length': String(bytes.length),
      ...traceHeaders(app),
    },
    body: arriving(bytes.slice(0, cut), bytes.slice(cut), released),
    duplex: 'half',
  } as RequestInit)
  const ctx = createExecutionContext()
  // Should the build never be checked, the body must not wait for ever.
  const timer = setTimeout(release, 10_000)
  try {
    const response = await worker.fetch(request, { ...(env as Env), DB: db }, ctx)
    await waitOnExecutionContext(ctx)
    return { status: response.status, body: await response.json<Record<string, unknown>>() }
  } finally {
    clearTimeout(timer)
  }
}

async function storedTraces() {
  const rows = await dbOf(env).select().from(traces).where(eq(traces.appId, app.appId)).all()
  return { rows, keys: await allKeys(`${appPrefix(app.orgId, app.appId)}traces/`) }
}

describe('POST /client/v1/traces while its build is evicted', () => {
  it('is refused on the header line and keeps nothing, by buildName', async () => {
    const before = await storedTraces()
    const text = traceFile(playedSession(1), { buildName: app.buildName })
    const answer = await uploadWhile(text, () => setBuildState('deleted').then(() => {}))
    expect(answer.status, JSON.stringify(answer.body)).toBe(422)
    expect(answer.body.details).toEqual([
      { line: 1, reason: `buildName "${app.buildName}" is not a kept build of the app` },
    ])
    expect(await storedTraces()).toEqual(before)
  })

  it('is refused on the header line and keeps nothing, for the current build', async () => {
    const before = await storedTraces()
    const text = `\n\n${traceFile(playedSession(2))}`
    const answer = await uploadWhile(text, () => setBuildState('deleted').then(() => {}))
    expect(answer.status, JSON.stringify(answer.body)).toBe(422)
    expect(answer.body.details).toEqual([
      { line: 3, reason: 'the current build of the app is not ready' },
    ])
    expect(await storedTraces()).toEqual(before)
  })

  it('is accepted when the build stays', async () => {
    const text = traceFile(playedSession(3), { buildName: app.buildName })
    const answer = await uploadWhile(text, async () => {})
    expect(answer.status, JSON.stringify(answer.body)).toBe(202)
    const { rows, keys } = await storedTraces()
    expect(rows.map((row) => row.id)).toContain(answer.body.traceId)
    expect(keys.filter((key) => key.includes(String(answer.body.traceId)))).toHaveLength(2)
  })
})
