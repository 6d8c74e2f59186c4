/**
 * Webhook deliveries end to end: real tasks emit events, the `events` queue delivers them to a
 * real HTTP receiver on loopback (webhook-global-setup.ts), and what the receiver got is checked
 * as a subscriber would check it. The test config retries at once (EVENT_BACKOFF_SCALE=0) and
 * gives up after 5 retries instead of 100, so each retry comes about 1 s (the batch timeout) after
 * the last and a dead letter takes seconds.
 */
import { env } from 'cloudflare:workers'
import { eq } from 'drizzle-orm'
import { describe, expect, inject, it } from 'vitest'
import { dbOf } from '../../src/db/client'
import { deliveries, orgs, subscriptions } from '../../src/db/schema'
import { MAX_RETRY_DELAY_SEC, retryDelaySec } from '../../src/events/backoff'
import { signEvent } from '../../src/events/sign'
import { submitTask } from '../../src/tasks/service'
import { newOrg, type OrgFixture } from './fixtures'
import { call, waitForTask } from './helpers'

const control = inject('webhookControl')

type Mode = 'ok' | 'fail' | 'hang' | 'down'

interface Received {
  path: string
  headers: Record<string, string>
  body: string
  sha256: string
  answered: number | null
  at: number
}

interface Delivery {
  eventId: string
  type: string
  event: string
  state: string
  attempts: number
  lastStatus: number | null
  lastError: string | null
}

async function newReceiver(): Promise<{ id: string; url: string }> {
  const answer = await fetch(`${control}/receivers`, { method: 'POST' })
  expect(answer.status).toBe(201)
  return answer.json()
}

async function setMode(id: string, mode: Mode) {
  const answer = await fetch(`${control}/receivers/${id}`, {
    method: 'POST',
    body: JSON.stringify({ mode }),
  })
  expect(answer.status).toBe(200)
}

async function receivedBy(id: string): Promise<Received[]> {
  return (await fetch(`${control}/receivers/${id}/received`)).json()
}

type Truthy<T> = Exclude<T, false | null | undefined | 0 | ''>

/** Polls `probe` until it returns something truthy, and returns that. */
async function waitFor<T>(
  what: string,
  probe: () => Promise<T>,
  timeoutMs = 20_000,
): Promise<Truthy<T>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value) return value as Truthy<T>
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 150))
  }
}

async function subscribe(org: OrgFixture, name: string, target: object, events?: object[]) {
  const answer = await call('POST', '/be/v1/subscriptions', {
    headers: org.headers,
    body: { name, target, events },
  })
  expect(answer.status).toBe(201)
  return answer.body.secret as string
}

async function detail(org: OrgFixture, name: string) {
  const answer = await call('GET', `/be/v1/subscriptions/${name}`, { headers: org.headers })
  expect(answer.status).toBe(200)
  return answer.body.subscription as {
    deliveries: Delivery[]
    deadLetters: { count: number; items: Delivery[] }
  }
}

/** Submits a real `dltar` task for the org; whatever its handler does, it emits events. */
async function runTask(org: OrgFixture): Promise<string> {
  const row = await dbOf(env).select().from(orgs).where(eq(orgs.name, org.orgName)).get()
  return submitTask(env, {
    type: 'dltar',
    orgId: row!.id,
    appName: 'game',
    buildName: 'build_1',
    params: {},
  })
}

const onlySubmit = [{ type: 'dltar', event: 'submit' }]

function base64urlDecode(part: string): Uint8Array {
  const b64 = part.replaceAll('-', '+').replaceAll('_', '/')
  const binary = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4))
  return Uint8Array.from(binary, (c) => c.charCodeAt(0))
}

/** Verifies an HS256 JWT by hand (as a receiver would) and returns its header and claims. */
async function verifyJwt(token: string, secret: string) {
  const [head, payload, signature] = token.split('.')
  const key = await crypto.subtle.importKey(
    'raw',
    new TextEncoder().encode(secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['verify'],
  )
  const valid = await crypto.subtle.verify(
    'HMAC',
    key,
    base64urlDecode(signature),
    new TextEncoder().encode(`${head}.${payload}`),
  )
  const decode = (part: string) => JSON.parse(new TextDecoder().decode(base64urlDecode(part)))
  return { valid, header: decode(head), claims: decode(payload) }
}

describe('the retry schedule', () => {
  it('grows to hourly, stays under the queue cap, and spans over 24 h in 100 retries', () => {
    const delays = Array.from({ length: 100 }, (_, i) => retryDelaySec(i + 1))
    expect(delays.slice(0, 8)).toEqual([10, 30, 60, 120, 300, 600, 1800, 3600])
    expect(delays.every((d, i) => i === 0 || d >= delays[i - 1])).toBe(true)
    expect(Math.max(...delays)).toBeLessThanOrEqual(MAX_RETRY_DELAY_SEC)
    // wrangler.toml: max_retries = 100 on the events queue.
    expect(delays.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(86_400)
    expect(retryDelaySec(3, 0)).toBe(0)
  })

  it('signs with the claims of API.md', async () => {
    const token = await signEvent('rks_test', 'ev.1', '{"a":1}', 1_700_000_000)
    const { valid, header, claims } = await verifyJwt(token, 'rks_test')
    expect(valid).toBe(true)
    expect(header).toEqual({ alg: 'HS256', typ: 'JWT' })
    expect(claims).toEqual({
      iss: 'rockit-edge',
      eventId: 'ev.1',
      sha256: '015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862',
      iat: 1_700_000_000,
      exp: 1_700_000_300,
    })
    expect((await verifyJwt(token, 'rks_other')).valid).toBe(false)
  })
})

describe('webhook deliveries', () => {
  it('delivers every event of a task, signed, once a down receiver comes back', async () => {
    const org = await newOrg('hooks')
    const receiver = await newReceiver()
    const secret = await subscribe(org, 'all_events', {
      type: 'webhook',
      url: `${receiver.url}/rockit`,
    })
    const started = Math.floor(Date.now() / 1000)
    await setMode(receiver.id, 'down')

    const taskName = await runTask(org)
    // While the receiver refuses connections, attempts fail and are recorded.
    const failing = await waitFor('failed attempts while down', async () => {
      const { deliveries } = await detail(org, 'all_events')
      const failed = deliveries.filter((d) => d.state === 'failed' && d.attempts >= 1)
      return failed.length >= 2 && failed
    })
    for (const d of failing) {
      expect(d.lastStatus).toBeNull()
      expect(d.lastError).toMatch(/^network error/)
    }
    expect(await receivedBy(receiver.id)).toEqual([])

    await setMode(receiver.id, 'ok')
    const task = await waitForTask(taskName)
    const final = task.state === 'succeeded' ? 'end' : 'error'
    const delivered = await waitFor('every event delivered', async () => {
      const { deliveries } = await detail(org, 'all_events')
      return (
        deliveries.length === 3 && deliveries.every((d) => d.state === 'delivered') && deliveries
      )
    })
    expect(delivered.map((d) => d.event).sort()).toEqual(['begin', final, 'submit'].sort())
    expect(delivered.find((d) => d.event === 'submit')!.attempts).toBeGreaterThanOrEqual(2)
    expect(delivered.every((d) => d.lastStatus === 200 && d.lastError === null)).toBe(true)

    // Receivers deduplicate by eventId; at-least-once may repeat one, never lose one.
    const requests = await receivedBy(receiver.id)
    const byEvent = new Map<string, Received>()
    for (const request of requests) byEvent.set(JSON.parse(request.body).eventId, request)
    expect(byEvent.size).toBe(3)

    const now = Math.floor(Date.now() / 1000)
    for (const [eventId, request] of byEvent) {
      expect(request.path).toBe('/rockit')
      expect(request.headers['content-type']).toBe('application/json')
      const { valid, header, claims } = await verifyJwt(
        request.headers['x-rockit-subscriptions'],
        secret,
      )
      expect(valid).toBe(true)
      expect(header.alg).toBe('HS256')
      expect(claims.iss).toBe('rockit-edge')
      expect(claims.eventId).toBe(eventId)
      expect(claims.sha256).toBe(request.sha256)
      expect(claims.exp - claims.iat).toBe(300)
      expect(claims.iat).toBeGreaterThanOrEqual(started - 1)
      expect(claims.iat).toBeLessThanOrEqual(now + 1)

      const body = JSON.parse(request.body)
      expect(body).toMatchObject({
        eventId,
        type: 'dltar',
        orgName: org.orgName,
        appName: 'game',
        buildName: 'build_1',
        taskName,
      })
      expect(['submit', 'begin', final]).toContain(body.event)
      expect(new Date(body.time).toISOString()).toBe(body.time)
      if (body.event === 'error')
        expect(body.exception).toMatchObject({ code: task.exception.code })
    }
  }, 40_000)

  it('retries a receiver answering 500 with the same eventId, each attempt signed afresh', async () => {
    const org = await newOrg('hooks')
    const receiver = await newReceiver()
    const secret = await subscribe(org, 'flaky', { type: 'webhook', url: receiver.url }, onlySubmit)
    await setMode(receiver.id, 'fail')
    await runTask(org)

    await waitFor('two refused attempts', async () => (await receivedBy(receiver.id)).length >= 2)
    const failed = (await detail(org, 'flaky')).deliveries[0]
    expect(failed.lastStatus).toBe(500)
    expect(failed.lastError).toContain('HTTP 500')
    await setMode(receiver.id, 'ok')

    const delivered = await waitFor('delivery after 500s', async () => {
      const [d] = (await detail(org, 'flaky')).deliveries
      return d?.state === 'delivered' && d
    })
    const requests = await receivedBy(receiver.id)
    expect(requests.length).toBe(delivered.attempts)
    expect(requests.at(-1)!.answered).toBe(200)
    expect(requests.slice(0, -1).every((r) => r.answered === 500)).toBe(true)

    const eventIds = new Set<string>()
    for (const request of requests) {
      const { valid, claims } = await verifyJwt(request.headers['x-rockit-subscriptions'], secret)
      expect(valid).toBe(true)
      expect(claims.sha256).toBe(request.sha256)
      eventIds.add(claims.eventId)
      eventIds.add(JSON.parse(request.body).eventId)
    }
    expect([...eventIds]).toEqual([delivered.eventId])
    // Bodies are identical across attempts: only the signature is made again.
    expect(new Set(requests.map((r) => r.body)).size).toBe(1)
  }, 30_000)

  it('turns a delivery that used every retry into a dead letter on the subscription', async () => {
    const org = await newOrg('hooks')
    const receiver = await newReceiver()
    await subscribe(org, 'doomed', { type: 'webhook', url: receiver.url }, onlySubmit)
    await setMode(receiver.id, 'fail')
    await runTask(org)

    const dead = await waitFor('a dead letter', async () => {
      const sub = await detail(org, 'doomed')
      return sub.deadLetters.count === 1 && sub
    })
    // 1 attempt + the 5 retries of the test config.
    expect(dead.deadLetters.items).toEqual([
      expect.objectContaining({
        type: 'dltar',
        event: 'submit',
        state: 'dead',
        attempts: 6,
        lastStatus: 500,
        lastError: expect.stringContaining('HTTP 500'),
      }),
    ])
    expect(dead.deliveries[0]).toMatchObject({ state: 'dead', attempts: 6 })
    expect((await receivedBy(receiver.id)).length).toBe(6)
  }, 30_000)

  it('gives up on a receiver that does not answer in 10 s and never holds up the task', async () => {
    const org = await newOrg('hooks')
    const receiver = await newReceiver()
    await subscribe(org, 'slowpoke', { type: 'webhook', url: receiver.url }, onlySubmit)
    await setMode(receiver.id, 'hang')
    const taskName = await runTask(org)

    const [hung] = await waitFor('a hung request', () =>
      receivedBy(receiver.id).then((r) => r.length && r),
    )
    // The task goes on while its event waits for the receiver.
    const task = await waitForTask(taskName)
    expect(['succeeded', 'failed']).toContain(task.state)
    expect(Date.now() - hung.at).toBeLessThan(9_000)
    expect((await detail(org, 'slowpoke')).deliveries[0].state).toBe('pending')

    await setMode(receiver.id, 'ok')
    const delivered = await waitFor(
      'delivery after the timeout',
      async () => {
        const [d] = (await detail(org, 'slowpoke')).deliveries
        return d?.state === 'delivered' && d
      },
      25_000,
    )
    expect(delivered.attempts).toBe(2)
    const requests = await receivedBy(receiver.id)
    expect(requests.map((r) => r.answered)).toEqual([null, 200])
    expect(requests[1].at - requests[0].at).toBeGreaterThanOrEqual(9_500)
  }, 40_000)

  it('drops the deliveries of a deleted subscription', async () => {
    const org = await newOrg('hooks')
    const receiver = await newReceiver()
    await subscribe(org, 'short_lived', { type: 'webhook', url: receiver.url }, onlySubmit)
    await setMode(receiver.id, 'down')
    await runTask(org)
    await waitFor('a failed attempt', async () => {
      const [d] = (await detail(org, 'short_lived')).deliveries
      return d?.state === 'failed'
    })

    const removed = await call('DELETE', '/be/v1/subscriptions/short_lived', {
      headers: org.headers,
    })
    expect(removed.status).toBe(200)
    await setMode(receiver.id, 'ok')
    // Several retry rounds (about 1 s each in tests) pass without a call.
    await new Promise((resolve) => setTimeout(resolve, 3_500))
    expect(await receivedBy(receiver.id)).toEqual([])
    const left = await dbOf(env).select().from(deliveries).all()
    const subs = await dbOf(env).select({ id: subscriptions.id }).from(subscriptions).all()
    const orphans = left.filter((d) => !subs.some((s) => s.id === d.subscriptionId))
    expect(orphans).toEqual([])
  }, 30_000)

  it("never sends one org's events to another org's subscription", async () => {
    const busy = await newOrg('hooks')
    const quiet = await newOrg('hooks')
    const busyReceiver = await newReceiver()
    const quietReceiver = await newReceiver()
    await subscribe(busy, 'mine', { type: 'webhook', url: busyReceiver.url })
    await subscribe(quiet, 'mine', { type: 'webhook', url: quietReceiver.url })

    const taskName = await runTask(busy)
    await waitForTask(taskName)
    await waitFor('the busy org’s three events', async () => {
      const { deliveries } = await detail(busy, 'mine')
      return deliveries.length === 3 && deliveries.every((d) => d.state === 'delivered')
    })
    const got = (await receivedBy(busyReceiver.id)).map((r) => JSON.parse(r.body))
    expect(got.every((event) => event.orgName === busy.orgName)).toBe(true)
    expect(await receivedBy(quietReceiver.id)).toEqual([])
    expect((await detail(quiet, 'mine')).deliveries).toEqual([])
  }, 30_000)

  it('sends Slack targets a readable, unsigned message', async () => {
    const org = await newOrg('hooks')
    const receiver = await newReceiver()
    await subscribe(org, 'team_chat', { type: 'slack', url: `${receiver.url}/services/T1/B2/xyz` })
    const taskName = await runTask(org)
    const task = await waitForTask(taskName)

    const requests = await waitFor('three Slack messages', async () => {
      const got = await receivedBy(receiver.id)
      return got.length >= 3 && got
    })
    expect(requests.every((r) => r.path === '/services/T1/B2/xyz')).toBe(true)
    expect(requests.every((r) => r.headers['x-rockit-subscriptions'] === undefined)).toBe(true)
    expect(requests.every((r) => r.headers['content-type'] === 'application/json')).toBe(true)
    const texts = requests.map((r) => JSON.parse(r.body))
    for (const message of texts) {
      expect(Object.keys(message)).toEqual(['text'])
      expect(message.text).toContain(`dltar task ${taskName}`)
      expect(message.text).toContain(`org ${org.orgName}`)
      expect(message.text).toContain('app game')
      expect(message.text).toContain('build build_1')
    }
    const all = texts.map((m) => m.text).join('\n')
    expect(all).toContain('was submitted')
    expect(all).toContain('started')
    if (task.state === 'failed') {
      expect(all).toContain(
        `failed (org ${org.orgName}, app game, build build_1): ${task.exception.code}`,
      )
    } else {
      expect(all).toContain('finished')
    }
  }, 30_000)
})
