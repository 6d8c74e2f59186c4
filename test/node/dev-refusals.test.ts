/**
 * Refused trace uploads against `wrangler dev` over real HTTP: a body the service stops
 * reading early (a gzip bomb, a bad first line in a long body) must not break the request that
 * follows it, whoever sends that. Behind wrangler dev's proxy a body left half read made the
 * next non-GET request answer 503 "Your worker restarted mid-request".
 */
import { mkdtemp, realpath, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type DemoSetup,
  freePort,
  type LocalService,
  setUpApp,
  startLocalService,
} from '../../scripts/demo'

let work: string
let service: LocalService
let setup: DemoSetup

beforeAll(async () => {
  work = await realpath(await mkdtemp(join(tmpdir(), 'rockit-refusals-')))
  service = await startLocalService({
    port: await freePort(),
    stateDir: join(work, 'state'),
    logFile: join(work, 'service.log'),
  })
  setup = await setUpApp({
    url: service.url,
    orgName: 'refusals',
    appName: 'game',
    blockSize: 65536,
    training: { nProcessTracesMin: 1000 },
  })
}, 180_000)

afterAll(async () => {
  await service?.stop()
  if (work) await rm(work, { recursive: true, force: true })
})

async function postTrace(body: Uint8Array | string, headers: Record<string, string> = {}) {
  const response = await fetch(`${service.url}/client/v1/traces`, {
    method: 'POST',
    headers: {
      ...setup.launcher.authHeaders('trace', setup.appName),
      'content-type': 'application/x-ndjson',
      ...headers,
    },
    body: typeof body === 'string' ? body : Buffer.from(body),
  })
  return { status: response.status, body: await response.json() }
}

/** A publisher's call right after: a trigger for an app that does not exist is a 404. */
async function nextCall() {
  const response = await fetch(`${service.url}/be/v1/trigger`, {
    method: 'POST',
    headers: { ...setup.publisher.authHeaders('user'), 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'processTraces', appName: 'no_such_app' }),
  })
  return { status: response.status, body: await response.text() }
}

describe('a refused trace body does not break the next request', () => {
  it('after a bad first line in a 240 KB body', async () => {
    const header = JSON.stringify({
      format: 'rockit-trace/1',
      sessionId: 's-1',
      durationMs: 1000,
      evil: 1,
    })
    const reads = Array.from({ length: 8000 }, (_, i) => `[${i},"game/a.bin",0,1]`).join('\n')
    const answer = await postTrace(`${header}\n${reads}\n`)
    expect(answer.status).toBe(422)
    expect(answer.body.details[0].line).toBe(1)
    const next = await nextCall()
    expect(next.status, next.body).toBe(404)
  }, 60_000)

  it('after a gzip bomb refused with 413', async () => {
    const head = `${JSON.stringify({ format: 'rockit-trace/1', sessionId: 's-2', durationMs: 1 })}\n`
    const bomb = gzipSync(Buffer.concat([Buffer.from(head), Buffer.alloc(80 * 1024 * 1024, 0x20)]))
    const answer = await postTrace(bomb, { 'content-encoding': 'gzip' })
    expect(answer.status).toBe(413)
    const next = await nextCall()
    expect(next.status, next.body).toBe(404)
  }, 60_000)
})
