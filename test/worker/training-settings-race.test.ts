/**
 * `PATCH /be/v1/trainings` under concurrency and its 400s: two changes racing on one app must
 * both land or be refused against what is stored, and a bad field is named once.
 */
import { env } from 'cloudflare:workers'
import { eq } from 'drizzle-orm'
import { beforeAll, describe, expect, it } from 'vitest'
import { dbOf } from '../../src/db/client'
import { apps } from '../../src/db/schema'
import { parseTraining } from '../../src/domain/apps/training-settings'
import { newApp } from './app-fixtures'
import { newOrg, type OrgFixture } from './fixtures'
import { type Answer, call } from './helpers'

let org: OrgFixture

beforeAll(async () => {
  org = await newOrg('trainrace')
}, 30_000)

function modify(body: Record<string, unknown>): Promise<Answer> {
  return call('PATCH', '/be/v1/trainings', { headers: org.headers, body })
}

async function storedSettings(appId: string) {
  const row = await dbOf(env).select().from(apps).where(eq(apps.id, appId)).get()
  return parseTraining(row?.training ?? null)
}

describe('PATCH /be/v1/trainings, two changes at once', () => {
  it('keeps every change it acknowledged', async () => {
    const app = await newApp(org)
    for (let round = 0; round < 8; round++) {
      const reset = await modify({ appName: app.name, minCoverage: 0.1, maxCoverage: 0.9 })
      expect(reset.status).toBe(200)

      const [raise, lower] = await Promise.all([
        modify({ appName: app.name, minCoverage: 0.5 }),
        modify({ appName: app.name, maxCoverage: 0.3 }),
      ])
      const stored = await storedSettings(app.appId)
      const statuses = `round ${round}: ${raise.status} ${lower.status} ${JSON.stringify(stored)}`

      // 0.5 > 0.3: whichever lands second is refused, naming its own field.
      if (raise.status === 200 && lower.status === 200) {
        expect.fail(`both answered 200 though 0.5 > 0.3 (${statuses})`)
      }
      if (raise.status === 200) expect(stored.minCoverage, statuses).toBe(0.5)
      else {
        expect(raise.status, statuses).toBe(400)
        expect(raise.body.details, statuses).toEqual([
          { field: 'minCoverage', reason: expect.stringContaining('maxCoverage') },
        ])
      }
      if (lower.status === 200) expect(stored.maxCoverage, statuses).toBe(0.3)
      else {
        expect(lower.status, statuses).toBe(400)
        expect(lower.body.details, statuses).toEqual([
          { field: 'maxCoverage', reason: expect.stringContaining('minCoverage') },
        ])
      }
      expect(stored.minCoverage, statuses).toBeLessThanOrEqual(stored.maxCoverage)
    }
  })

  it('stores both of two compatible changes', async () => {
    const app = await newApp(org)
    for (let round = 0; round < 8; round++) {
      const reset = await modify({ appName: app.name, minCoverage: 0.1, maxCoverage: 0.9 })
      expect(reset.status).toBe(200)

      const answers = await Promise.all([
        modify({ appName: app.name, minCoverage: 0.2 + round / 100 }),
        modify({ appName: app.name, maxCoverage: 0.8 - round / 100 }),
        modify({ appName: app.name, nTracesReliable: 10 + round }),
      ])
      expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200])
      expect(await storedSettings(app.appId), `round ${round}`).toMatchObject({
        minCoverage: 0.2 + round / 100,
        maxCoverage: 0.8 - round / 100,
        nTracesReliable: 10 + round,
      })
    }
  })
})

describe('PATCH /be/v1/trainings, a dozen changes at once', () => {
  // Each field is sent by two of the twelve with the same value, so whatever order they land
  // in, every change shows in the stored settings; each value differs from the reset one.
  const changes = (round: number): Record<string, unknown>[] => {
    const fields = {
      nTracesReliable: 40 + round,
      minCoverage: 0.3 + round / 100,
      maxCoverage: 0.7 - round / 100,
      minTraceTimeSec: 600 + round,
      nProcessTracesMin: 20 + round,
      uploadTrace: false,
    }
    const one = Object.entries(fields).map(([name, value]) => ({ [name]: value }))
    return [...one, ...one]
  }

  it('lands all twelve, each answered 200', async () => {
    const app = await newApp(org)
    for (let round = 0; round < 4; round++) {
      const reset = await modify({
        appName: app.name,
        nTracesReliable: 30,
        minCoverage: 0.2,
        maxCoverage: 0.8,
        minTraceTimeSec: 1800,
        nProcessTracesMin: 30,
        uploadTrace: true,
      })
      expect(reset.status).toBe(200)

      const sent = changes(round)
      const answers = await Promise.all(
        sent.map((change) => modify({ appName: app.name, ...change })),
      )
      const statuses = answers.map((answer) => answer.status)
      expect(statuses, `round ${round}: ${JSON.stringify(answers.map((a) => a.body))}`).toEqual(
        sent.map(() => 200),
      )
      expect(await storedSettings(app.appId), `round ${round}`).toEqual(Object.assign({}, ...sent))
    }
  })
})

describe('PATCH /be/v1/trainings refusals', () => {
  it('names each bad field once', async () => {
    const app = await newApp(org)
    const answer = await modify({
      appName: app.name,
      nTracesReliable: 1e20,
      nProcessTracesMin: -1e20,
      minTraceTimeSec: 1e300,
    })
    expect(answer.status).toBe(400)
    const fields = answer.body.details.map((detail: { field: string }) => detail.field)
    expect(fields.sort()).toEqual(['minTraceTimeSec', 'nProcessTracesMin', 'nTracesReliable'])
    expect(answer.body.details).toContainEqual({
      field: 'nTracesReliable',
      reason: expect.stringContaining('1000000'),
    })
  })
})
