import { SELF } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { and, eq } from 'drizzle-orm'
import { beforeAll, describe, expect, it } from 'vitest'
import { runCron } from '../../src/cron'
import { dbOf } from '../../src/db/client'
import { apps, builds, trainingRuns } from '../../src/db/schema'
import { modelOfFiles } from '../../src/domain/training/build-store'
import type { ScannedFile } from '../../src/engine/tar-scan'
import { buildIdText, buildKeys, imageKeys } from '../../src/storage/keys'
import { signIn } from './accounts'
import { userWithPermissions } from './app-fixtures'
import { expectImageHolds, readImageHeader } from './build-fixtures'
import { newOrg, type OrgFixture } from './fixtures'
import { BASE, call, waitForTask } from './helpers'
import { seededBytes } from './tar-fixture'
import {
  appWithBuild,
  BLOCK,
  eventually,
  figuresOf,
  gameEntries,
  importBuild,
  playedSession,
  processTracesNow,
  type TrainingApp,
  traceFile,
  uploadPlayedSessions,
  uploadTrace,
} from './training-fixtures'

let org: OrgFixture

interface TrainingItem {
  appName: string
}

interface FieldDetail {
  field: string
}

interface RunQualityView {
  bandwidths: { mbit: number; median: { bytes: number } }[]
}

beforeAll(async () => {
  org = await newOrg('training')
}, 30_000)

/** No automatic runs: only `processTraces` starts one. */
const manualOnly = { nTracesReliable: 2, nProcessTracesMin: 1000 }

async function appRow(app: TrainingApp) {
  return dbOf(env).select().from(apps).where(eq(apps.id, app.appId)).get()
}

/** The slots of `path`'s blocks in an image order. */
async function slotsOf(app: TrainingApp, buildId: number, order: Uint32Array, path: string) {
  const object = await env.BUCKET.get(buildKeys(app.orgId, app.appId, buildId).files)
  const model = modelOfFiles(BLOCK, (await object!.json()) as ScannedFile[])
  const file = model.files.find((candidate) => candidate.path === path)!
  const slots: number[] = []
  order.forEach((block, slot) => {
    if (block >= file.firstBlock && block < file.firstBlock + file.blockCount) slots.push(slot)
  })
  return slots
}

describe('mkdxf turns traces into a better image', () => {
  let app: TrainingApp

  beforeAll(async () => {
    app = await appWithBuild(org, manualOnly)
    await uploadPlayedSessions(app, 8)
  }, 60_000)

  it('publishes the trained image when it beats the current one', async () => {
    const task = await processTracesNow(app)
    const dxfName = `dxf-${buildIdText(app.buildId)}-02`
    expect(task.result).toMatchObject({ deployed: true, dxfName, nTraces: 8 })
    expect(task.result.reason).toMatch(/^better: median preload at 100 Mbit\/s/)

    const row = await appRow(app)
    expect(row?.dxfName).toBe(dxfName)
    const build = await dbOf(env)
      .select()
      .from(builds)
      .where(and(eq(builds.appId, app.appId), eq(builds.buildId, app.buildId)))
      .get()
    expect(build?.dxfName).toBe(dxfName)

    // Every session reads late.pak at start: the image now holds it right after boot.bin.
    const key = imageKeys(app.orgId, app.appId, dxfName).image
    const header = await expectImageHolds(key, gameEntries())
    const late = await slotsOf(app, app.buildId, header.order, 'game/data/late.pak')
    expect(Math.max(...late)).toBeLessThan(14)
    const object = await env.BUCKET.head(key)
    expect(object?.customMetadata?.sha256).toMatch(/^[0-9a-f]{64}$/)

    const profile = await (await env.BUCKET.get(
      imageKeys(app.orgId, app.appId, dxfName).profile,
    ))!.json<Record<string, unknown>>()
    expect(profile).toMatchObject({ format: 'rockit-profile/1', traces: 8, blockSize: BLOCK })
    expect(header.profile).toEqual(profile)

    const deploys = await call('GET', `/be/v1/tasks?appName=${app.name}&type=deploy`, {
      headers: org.headers,
    })
    expect(deploys.body.items.map((item: { taskName: string }) => item.taskName)).toContain(
      task.result.deployTaskName,
    )

    const detail = await call('GET', `/be/v1/trainings/${app.name}`, { headers: org.headers })
    expect(detail.status).toBe(200)
    const run = detail.body.training.runs[0]
    expect(run).toMatchObject({ taskName: task.taskName, nTraces: 8, deployed: true })
    expect(run.reason).toBe(task.result.reason)
    const at100 = (quality: RunQualityView) =>
      quality.bandwidths.find((b) => b.mbit === 100)?.median.bytes ?? Number.NaN
    expect(at100(run.qualityAfter)).toBeLessThan(at100(run.qualityBefore))
    expect(run.qualityBefore).toMatchObject({ row: 'current', traces: 8 })
    expect(detail.body.training.profile).toMatchObject({ dxfName, format: 'rockit-profile/1' })
    expect(detail.body.training).toMatchObject({
      appName: app.name,
      dxfName,
      nTraces: 8,
      nNewTraces: 0,
      state: 'trained',
    })
  }, 60_000)

  it('keeps serving the image it replaced from the depot for 24 h, then deletes it', async () => {
    const id = buildIdText(app.buildId)
    const dir = `${BASE}/depot/dxf/${org.orgName}/${app.name}/${id}`
    const replaced = imageKeys(app.orgId, app.appId, `dxf-${id}-01`)
    expect((await appRow(app))?.dxfName).toBe(`dxf-${id}-02`)
    const stored = new Uint8Array(await (await env.BUCKET.get(replaced.image))!.arrayBuffer())

    // A launcher that started on the replaced image finishes its download and resumes it.
    const whole = await SELF.fetch(`${dir}/dxf-${id}-01/image.dxf`)
    expect(whole.status).toBe(200)
    expect(new Uint8Array(await whole.arrayBuffer())).toEqual(stored)
    const rest = await SELF.fetch(`${dir}/dxf-${id}-01/image.dxf`, {
      headers: { range: 'bytes=100-' },
    })
    expect(rest.status).toBe(206)
    expect(new Uint8Array(await rest.arrayBuffer())).toEqual(stored.subarray(100))
    const profile = await SELF.fetch(`${dir}/dxf-${id}-01/profile.json`)
    expect(profile.status).toBe(200)
    await profile.arrayBuffer()
    // Only under its own build's directory.
    const elsewhere = await SELF.fetch(
      `${BASE}/depot/dxf/${org.orgName}/${app.name}/9999/dxf-${id}-01/image.dxf`,
    )
    expect(elsewhere.status).toBe(404)
    await elsewhere.arrayBuffer()

    await runCron(env, new Date(Date.now() + 23 * 3600 * 1000))
    const still = await SELF.fetch(`${dir}/dxf-${id}-01/image.dxf`, { method: 'HEAD' })
    expect(still.status).toBe(200)

    await runCron(env, new Date(Date.now() + 25 * 3600 * 1000))
    for (const file of ['image.dxf', 'profile.json']) {
      const gone = await SELF.fetch(`${dir}/dxf-${id}-01/${file}`)
      expect(gone.status, file).toBe(404)
      await gone.arrayBuffer()
    }
    expect(await env.BUCKET.head(replaced.image)).toBeNull()
    expect(await env.BUCKET.head(replaced.profile)).toBeNull()
    const current = await SELF.fetch(`${dir}/dxf-${id}-02/image.dxf`, { method: 'HEAD' })
    expect(current.status).toBe(200)
    const kept = await env.BUCKET.head(imageKeys(app.orgId, app.appId, `dxf-${id}-02`).image)
    expect(kept).not.toBeNull()
  }, 30_000)

  it('keeps the current image when the candidate is no better, and records why', async () => {
    const before = (await appRow(app))?.dxfName
    const task = await processTracesNow(app)
    expect(task.result.deployed).toBe(false)
    expect(task.result.reason).toMatch(/^not better/)
    expect((await appRow(app))?.dxfName).toBe(before)

    const runs = await dbOf(env)
      .select()
      .from(trainingRuns)
      .where(eq(trainingRuns.taskName, task.taskName))
      .all()
    expect(runs).toHaveLength(1)
    expect(runs[0]).toMatchObject({ deployed: false, reason: task.result.reason, nTraces: 8 })
  }, 60_000)

  it('records a measured candidate that loses, and publishes nothing', async () => {
    // Fewer traces than nTracesReliable: untraced data goes first, ahead of what sessions read.
    const unsure = await appWithBuild(org, { nTracesReliable: 1000, nProcessTracesMin: 1000 })
    for (let i = 0; i < 4; i++) {
      const answer = await uploadTrace(unsure, traceFile([[0, 'game/boot.bin', 0, 2 * BLOCK]]))
      expect(answer.status).toBe(202)
    }
    await eventually('traces counted', async () =>
      (await figuresOf(unsure)).nTraces === 4 ? true : undefined,
    )
    const answer = await call('POST', '/be/v1/trigger', {
      headers: org.headers,
      body: { type: 'processTraces', appName: unsure.name },
    })
    expect(answer.status).toBe(202)
    const task = await waitForTask(answer.body.taskName, 30_000)
    expect(task.state).toBe('succeeded')
    expect(task.result.deployed).toBe(false)
    expect(task.result.reason).toMatch(/^not better: median preload at 100 Mbit\/s/)
    const at100 = (quality: RunQualityView) =>
      quality.bandwidths.find((b) => b.mbit === 100)?.median.bytes ?? Number.NaN
    expect(at100(task.result.qualityAfter)).toBeGreaterThan(at100(task.result.qualityBefore))
    expect((await appRow(unsure))?.dxfName).toBe(`dxf-${buildIdText(unsure.buildId)}-01`)
    const detail = await call('GET', `/be/v1/trainings/${unsure.name}`, { headers: org.headers })
    expect(detail.body.training.runs[0]).toMatchObject({
      taskName: task.taskName,
      deployed: false,
      reason: task.result.reason,
    })
  }, 60_000)

  it('carries training to the next build: its first image is ordered, its figures kept', async () => {
    const entries = gameEntries()
    entries[3] = { path: 'game/data/a.pak', data: seededBytes(99, 16 * BLOCK) }
    const next = await importBuild(app, entries)

    const header = await readImageHeader(
      imageKeys(app.orgId, app.appId, `dxf-${buildIdText(next.buildId)}-01`).image,
    )
    const late = await slotsOf(app, next.buildId, header.order, 'game/data/late.pak')
    expect(Math.max(...late)).toBeLessThan(14)

    const detail = await eventually('figures of the new build', async () => {
      const answer = await call('GET', `/be/v1/trainings/${app.name}`, { headers: org.headers })
      return answer.body.training.nTraces === 8 &&
        answer.body.training.dxfName === `dxf-${buildIdText(next.buildId)}-01`
        ? answer.body.training
        : undefined
    })
    expect(detail.coverage).toBeGreaterThan(0)
  }, 90_000)

  it('refuses processTraces for an app without a build, with 409', async () => {
    const created = await call('POST', '/be/v1/apps', {
      headers: org.headers,
      body: { name: 'nobuild_app', label: 'No build' },
    })
    expect(created.status).toBe(201)
    const answer = await call('POST', '/be/v1/trigger', {
      headers: org.headers,
      body: { type: 'processTraces', appName: 'nobuild_app' },
    })
    expect(answer.status).toBe(409)
  })
})

describe('GET /be/v1/trainings', () => {
  it('is described in the OpenAPI document with the trace upload', async () => {
    const doc = await call('GET', '/openapi.json')
    expect(doc.status).toBe(200)
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining([
        '/be/v1/trainings',
        '/be/v1/trainings/{appName}',
        '/client/v1/traces',
      ]),
    )
    expect(Object.keys(doc.body.paths['/be/v1/trainings'])).toEqual(
      expect.arrayContaining(['get', 'patch']),
    )
  })

  it('lists every app with its figures, settings and state, paged', async () => {
    const listOrg = await newOrg('trainlist')
    const collecting = await appWithBuild(listOrg, { nTracesReliable: 5 })
    const disabled = await appWithBuild(listOrg, { uploadTrace: false })
    const ready = await appWithBuild(listOrg, {
      nTracesReliable: 1,
      minCoverage: 0.2,
      minTraceTimeSec: 0,
      nProcessTracesMin: 1000,
    })
    for (const app of [collecting, ready]) {
      expect((await uploadTrace(app, traceFile(playedSession(1)))).status).toBe(202)
      await eventually('trace counted', async () =>
        (await figuresOf(app)).nTraces === 1 ? true : undefined,
      )
    }

    const answer = await call('GET', '/be/v1/trainings', { headers: listOrg.headers })
    expect(answer.status).toBe(200)
    expect(answer.body).toMatchObject({ status: 'success', total: 3, offset: 0, limit: 10 })
    expect(answer.body.items.map((item: TrainingItem) => item.appName)).toEqual(
      [collecting.name, disabled.name, ready.name].sort(),
    )
    const byName = Object.fromEntries(
      answer.body.items.map((item: TrainingItem) => [item.appName, item]),
    )
    expect(byName[collecting.name]).toMatchObject({
      state: 'collecting',
      nTraces: 1,
      nNewTraces: 1,
      traceTimeSec: 600,
      lastProcessed: null,
      dxfName: `dxf-${buildIdText(collecting.buildId)}-01`,
      nTracesReliable: 5,
      minCoverage: 0.2,
      maxCoverage: 0.6,
      minTraceTimeSec: 1800,
      nProcessTracesMin: 30,
      uploadTrace: true,
    })
    expect(byName[collecting.name].coverage).toBeGreaterThan(0.2)
    expect(byName[disabled.name]).toMatchObject({
      state: 'disabled',
      nTraces: 0,
      uploadTrace: false,
    })
    expect(byName[ready.name]).toMatchObject({ state: 'ready', nTraces: 1, nNewTraces: 1 })

    const paged = await call('GET', '/be/v1/trainings?limit=1&offset=1&fields[]=appName,state', {
      headers: listOrg.headers,
    })
    expect(paged.body).toMatchObject({ total: 3, offset: 1, limit: 1 })
    expect(Object.keys(paged.body.items[0]).sort()).toEqual(['appName', 'state'])
    const filtered = await call('GET', '/be/v1/trainings?state=disabled', {
      headers: listOrg.headers,
    })
    expect(filtered.body.items.map((item: TrainingItem) => item.appName)).toEqual([disabled.name])
  }, 90_000)

  it('answers 404 for an unknown app and 403 without trainings read', async () => {
    expect(
      (await call('GET', '/be/v1/trainings/no_such_app', { headers: org.headers })).status,
    ).toBe(404)
    const noTrainings = await userWithPermissions(org.orgName, { apps: 15 })
    const refused = await call('GET', '/be/v1/trainings', { headers: noTrainings })
    expect(refused.status).toBe(403)
    expect(refused.body.details).toEqual([{ permission: 'trainings.read' }])
  })
})

describe('PATCH /be/v1/trainings', () => {
  let app: TrainingApp

  beforeAll(async () => {
    app = await appWithBuild(org)
  }, 60_000)

  it('changes the settings and answers exactly {"status":"success","message":"app modified"}', async () => {
    const answer = await call('PATCH', '/be/v1/trainings', {
      headers: org.headers,
      body: {
        appName: app.name,
        nTracesReliable: 3,
        minCoverage: 0.1,
        maxCoverage: 0.9,
        minTraceTimeSec: 0,
        nProcessTracesMin: 2,
        uploadTrace: true,
      },
    })
    expect(answer.status).toBe(200)
    expect(answer.body).toEqual({ status: 'success', message: 'app modified' })
    const detail = await call('GET', `/be/v1/trainings/${app.name}`, { headers: org.headers })
    expect(detail.body.training).toMatchObject({
      nTracesReliable: 3,
      minCoverage: 0.1,
      maxCoverage: 0.9,
      minTraceTimeSec: 0,
      nProcessTracesMin: 2,
      uploadTrace: true,
    })
  })

  it('answers the docs example, auth token and API key of the same user, with that body', async () => {
    const { authToken } = await signIn(org.orgName, org.adminUsername, org.adminPassword)
    const answer = await call('PATCH', '/be/v1/trainings', {
      headers: { 'x-rockit-beauth-token': authToken, ...org.headers },
      body: { appName: app.name, minCoverage: 0.25 },
    })
    expect(answer.status).toBe(200)
    expect(answer.body).toEqual({ status: 'success', message: 'app modified' })
  })

  it('lists each bad field in one 400', async () => {
    const answer = await call('PATCH', '/be/v1/trainings', {
      headers: org.headers,
      body: {
        appName: app.name,
        nTracesReliable: 0,
        minCoverage: 1.5,
        maxCoverage: -0.1,
        minTraceTimeSec: -1,
        nProcessTracesMin: 2.5,
        uploadTrace: 'yes',
      },
    })
    expect(answer.status).toBe(400)
    const fields = answer.body.details.map((detail: FieldDetail) => detail.field).sort()
    expect(fields).toEqual(
      [
        'maxCoverage',
        'minCoverage',
        'minTraceTimeSec',
        'nProcessTracesMin',
        'nTracesReliable',
        'uploadTrace',
      ].sort(),
    )
  })

  it('checks minCoverage <= maxCoverage, with the stored value of the other', async () => {
    const both = await call('PATCH', '/be/v1/trainings', {
      headers: org.headers,
      body: { appName: app.name, minCoverage: 0.7, maxCoverage: 0.5 },
    })
    expect(both.status).toBe(400)
    expect(both.body.details.map((detail: FieldDetail) => detail.field)).toEqual(['minCoverage'])

    await call('PATCH', '/be/v1/trainings', {
      headers: org.headers,
      body: { appName: app.name, minCoverage: 0.2, maxCoverage: 0.6 },
    })
    const aboveStored = await call('PATCH', '/be/v1/trainings', {
      headers: org.headers,
      body: { appName: app.name, minCoverage: 0.8 },
    })
    expect(aboveStored.status).toBe(400)
    expect(aboveStored.body.details[0].field).toBe('minCoverage')
    const belowStored = await call('PATCH', '/be/v1/trainings', {
      headers: org.headers,
      body: { appName: app.name, maxCoverage: 0.1 },
    })
    expect(belowStored.status).toBe(400)
    const equal = await call('PATCH', '/be/v1/trainings', {
      headers: org.headers,
      body: { appName: app.name, maxCoverage: 0.2 },
    })
    expect(equal.status).toBe(200)
  })

  it('refuses unknown fields, unknown apps and callers without trainings update', async () => {
    const unknownField = await call('PATCH', '/be/v1/trainings', {
      headers: org.headers,
      body: { appName: app.name, speed: 11 },
    })
    expect(unknownField.status).toBe(400)
    expect(unknownField.body.details).toEqual([{ field: 'speed', reason: 'unknown field' }])
    const unknownApp = await call('PATCH', '/be/v1/trainings', {
      headers: org.headers,
      body: { appName: 'no_such_app', uploadTrace: false },
    })
    expect(unknownApp.status).toBe(404)

    const reader = await userWithPermissions(org.orgName, { trainings: 2 })
    const refused = await call('PATCH', '/be/v1/trainings', {
      headers: reader,
      body: { appName: app.name, uploadTrace: false },
    })
    expect(refused.status).toBe(403)
    expect(refused.body.details).toEqual([{ permission: 'trainings.update' }])
    expect((await call('GET', `/be/v1/trainings/${app.name}`, { headers: reader })).status).toBe(
      200,
    )
  })

  it('starts a run at once when lowered thresholds make one due', async () => {
    const eager = await appWithBuild(org, { nTracesReliable: 1, nProcessTracesMin: 1000 })
    for (let i = 0; i < 3; i++) {
      expect((await uploadTrace(eager, traceFile(playedSession(i)))).status).toBe(202)
    }
    await eventually('traces counted', async () =>
      (await figuresOf(eager)).nTraces === 3 ? true : undefined,
    )
    const patched = await call('PATCH', '/be/v1/trainings', {
      headers: org.headers,
      body: {
        appName: eager.name,
        nProcessTracesMin: 3,
        minCoverage: 0,
        minTraceTimeSec: 0,
        maxCoverage: 1,
      },
    })
    expect(patched.status).toBe(200)
    await eventually('an mkdxf run', async () => {
      const tasks = await call('GET', `/be/v1/tasks?appName=${eager.name}&type=mkdxf`, {
        headers: org.headers,
      })
      return tasks.body.items?.length === 1 ? true : undefined
    })
  }, 60_000)
})
