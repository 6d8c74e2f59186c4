/**
 * Fixtures of the build tests: creating builds through the API, uploading tars to their URL,
 * reading back images and patches from R2, and driving a task's steps by hand (to run a step
 * twice, as a redelivered queue message would).
 */
import { SELF } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { and, eq } from 'drizzle-orm'
import { expect } from 'vitest'
import { dbOf, isoNow } from '../../src/db/client'
import { builds, tasks, uploads } from '../../src/db/schema'
import { createBuild } from '../../src/domain/builds/create-build'
import { imageHeaderLength, type ParsedImageHeader, parseImageHeader } from '../../src/engine/dxf'
import { imageLayout, rebuildFiles } from '../../src/engine/dxf-stream'
import { createLogger } from '../../src/http/log'
import { buildKeys } from '../../src/storage/keys'
import { taskHandlers } from '../../src/tasks/handlers'
import { submitTask } from '../../src/tasks/service'
import { loadTask } from '../../src/tasks/store'
import type { StepContext, StepOutcome, TaskRecord } from '../../src/tasks/types'
import { appIds, newApp } from './app-fixtures'
import type { OrgFixture } from './fixtures'
import { type Answer, call } from './helpers'
import type { TarEntry } from './tar-fixture'

export interface BuildApp {
  org: OrgFixture
  name: string
  orgId: string
  appId: string
}

/** An org's app for builds (`maxBuilds`, `blockSize` as given). */
export async function buildApp(org: OrgFixture, settings: Record<string, unknown> = {}) {
  const app = await newApp(org, settings)
  return { org, name: app.name, ...(await appIds(org.orgName, app.name)) } as BuildApp
}

/** `POST /be/v1/builds` for `app`. */
export function postBuild(app: BuildApp, body: Record<string, unknown> = {}): Promise<Answer> {
  return call('POST', '/be/v1/builds', {
    headers: app.org.headers,
    body: { appName: app.name, ...body },
  })
}

/** PUTs `body` to an upload URL with the tar content type unless `headers` say otherwise. */
export async function putTar(
  uploadUrl: string,
  body: BodyInit | null,
  headers: Record<string, string> = { 'content-type': 'application/x-tar' },
): Promise<Answer> {
  const response = await SELF.fetch(uploadUrl, { method: 'PUT', headers, body })
  const text = await response.text()
  return {
    status: response.status,
    headers: response.headers,
    body: text ? JSON.parse(text) : null,
  }
}

/** Creates a build by upload URL and uploads `tar`; returns both answers. */
export async function uploadBuild(
  app: BuildApp,
  tar: Uint8Array,
  body: Record<string, unknown> = {},
) {
  const created = await postBuild(app, body)
  expect(created.status).toBe(201)
  const put = await putTar(created.body.uploadUrl, tar)
  expect(put.status).toBe(202)
  return { created, put, mkraw: put.body.taskName as string }
}

/** The build row of `app` number `buildId`. */
export async function buildRow(app: BuildApp, buildId: number) {
  return dbOf(env)
    .select()
    .from(builds)
    .where(and(eq(builds.appId, app.appId), eq(builds.buildId, buildId)))
    .get()
}

/** The whole object at `key`, or null. */
export async function objectBytes(key: string): Promise<Uint8Array | null> {
  const object = await env.BUCKET.get(key)
  return object ? new Uint8Array(await object.arrayBuffer()) : null
}

/** Bytes `offset .. offset + length - 1` of the object at `key`. */
export async function rangeBytes(key: string, offset: number, length: number) {
  if (length === 0) return new Uint8Array(0)
  const object = await env.BUCKET.get(key, { range: { offset, length } })
  if (!object) throw new Error(`no object ${key}`)
  return new Uint8Array(await object.arrayBuffer())
}

/** Reads an image's header from R2 with two range reads, as a launcher does. */
export async function readImageHeader(key: string): Promise<ParsedImageHeader> {
  const length = imageHeaderLength(await rangeBytes(key, 0, 64))
  return parseImageHeader(await rangeBytes(key, 0, length))
}

const encoder = new TextEncoder()

/**
 * Rebuilds every file of the image at `key` through the engine (each block checked against
 * its hash) and compares it with the tar entries it was made from, byte for byte.
 */
export async function expectImageHolds(key: string, entries: TarEntry[]) {
  const header = await readImageHeader(key)
  const layout = imageLayout(header)
  const rebuilt = new Map<string, { kind: string; bytes: Uint8Array; linkTarget?: string }>()
  const readSlot = (slot: number) =>
    rangeBytes(key, layout.slotOffset(slot), layout.slotLength(slot))
  for await (const { file, bytes } of rebuildFiles(header, readSlot)) {
    rebuilt.set(file.path, { kind: file.kind, bytes, linkTarget: file.linkTarget })
  }
  expect([...rebuilt.keys()].sort()).toEqual(entries.map((entry) => entry.path).sort())
  for (const entry of entries) {
    const got = rebuilt.get(entry.path)!
    expect(got.kind, entry.path).toBe(entry.type ?? 'file')
    if ((entry.type ?? 'file') === 'file') {
      const want = typeof entry.data === 'string' ? encoder.encode(entry.data) : entry.data
      expect(got.bytes.length, entry.path).toBe(want?.length ?? 0)
      expect(
        Buffer.from(got.bytes).equals(Buffer.from(want ?? new Uint8Array(0))),
        entry.path,
      ).toBe(true)
    }
    if (entry.type === 'symlink') expect(got.linkTarget).toBe(entry.linkTarget)
  }
  return header
}

/** Lowercase hex SHA-256 of bytes, by WebCrypto. */
export async function sha256Of(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes)
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('')
}

/** Keys under an R2 prefix (all pages). */
export async function allKeys(prefix: string): Promise<string[]> {
  const keys: string[] = []
  let cursor: string | undefined
  for (;;) {
    const listed = await env.BUCKET.list({ prefix, cursor })
    keys.push(...listed.objects.map((object) => object.key))
    if (!listed.truncated) return keys
    cursor = listed.cursor
  }
}

/** Tasks of an app of one type, oldest first. */
export async function tasksOf(appId: string, type: string) {
  const rows = await dbOf(env)
    .select()
    .from(tasks)
    .where(and(eq(tasks.appId, appId), eq(tasks.type, type)))
    .all()
  return rows.sort((a, b) => (a.created < b.created ? -1 : 1))
}

function contextOf(task: TaskRecord): StepContext {
  return {
    env,
    task,
    log: createLogger('warn', { taskName: task.taskName }),
    async warn(code, message) {
      task.warnings.push({ code, message, acknowledged: false })
      await dbOf(env)
        .update(tasks)
        .set({ warnings: JSON.stringify(task.warnings) })
        .where(eq(tasks.id, task.taskName))
    },
  }
}

/**
 * Runs one step of a task (submitted with `start: false`) by calling its handler, the way the
 * queue consumer does, and saves the outcome. With `twice`, the step runs a second time on the
 * same snapshot before its outcome is saved: what happens when a step's work was done but its
 * message came again. Returns the outcome saved.
 */
export async function stepTask(
  taskName: string,
  options: { twice?: boolean } = {},
): Promise<StepOutcome> {
  const db = dbOf(env)
  await db
    .update(tasks)
    .set({ state: 'running', started: isoNow() })
    .where(and(eq(tasks.id, taskName), eq(tasks.state, 'submitted')))
  const task = (await loadTask(env, taskName)) as TaskRecord
  const handler = taskHandlers[task.type]
  let outcome = await handler.step(contextOf(structuredClone(task)))
  if (options.twice) outcome = await handler.step(contextOf(structuredClone(task)))
  if (outcome.kind === 'done') {
    await db
      .update(tasks)
      .set({
        state: 'succeeded',
        progress: 1,
        result: JSON.stringify(outcome.result ?? {}),
        seq: task.seq + 1,
        ended: isoNow(),
      })
      .where(eq(tasks.id, taskName))
  } else {
    await db
      .update(tasks)
      .set({ cursor: JSON.stringify(outcome.cursor), seq: task.seq + 1, updated: isoNow() })
      .where(eq(tasks.id, taskName))
  }
  return outcome
}

/** Runs a task submitted with `start: false` to its end (see {@link stepTask}); returns its steps. */
export async function driveTask(taskName: string, options: { twice?: boolean } = {}) {
  for (let steps = 1; ; steps++) {
    const outcome = await stepTask(taskName, options)
    if (outcome.kind === 'done') return steps
    if (steps > 10_000) throw new Error(`task ${taskName} does not end`)
  }
}

/**
 * An mkraw task for a new build of `app` whose tar is already stored, submitted with
 * `start: false` so a test steps it by hand ({@link stepTask}).
 */
export async function stagedMkraw(
  app: { orgId: string; appId: string; name: string },
  tar: Uint8Array,
  stepBytes: number,
) {
  const created = await createBuild(env, app.orgId, { appName: app.name }, 'http://edge.test')
  const buildId = created.build.buildId
  await env.BUCKET.put(buildKeys(app.orgId, app.appId, buildId).tar, tar)
  const db = dbOf(env)
  await db.update(uploads).set({ used: true }).where(eq(uploads.taskId, created.taskName))
  await db.update(tasks).set({ state: 'succeeded' }).where(eq(tasks.id, created.taskName))
  await db
    .update(builds)
    .set({ state: 'importing' })
    .where(and(eq(builds.appId, app.appId), eq(builds.buildId, buildId)))
  const taskName = await submitTask(env, {
    type: 'mkraw',
    orgId: app.orgId,
    appId: app.appId,
    appName: app.name,
    buildName: created.build.buildName,
    params: { buildId, stepBytes },
    start: false,
  })
  return { taskName, buildId }
}
