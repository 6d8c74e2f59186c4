/**
 * Fixtures of the trace and training tests: an app with a real build (made through the API and
 * mkraw, like a publisher would), trace files written as a launcher writes them, uploads with
 * the trace-key headers, and waiting for what the coordinator and the tasks do.
 */
import { env } from 'cloudflare:workers'
import { and, eq } from 'drizzle-orm'
import { expect } from 'vitest'
import { coordinatorOf } from '../../src/coordinator/app-coordinator'
import type { TrainingFigures } from '../../src/coordinator/coordinator-state'
import { dbOf } from '../../src/db/client'
import { tasks } from '../../src/db/schema'
import { serialiseTrace } from '../../src/engine/trace-codec'
import type { TraceHeader, TraceRead } from '../../src/engine/trace-types'
import { buildIdText } from '../../src/storage/keys'
import { submitTask } from '../../src/tasks/service'
import { appIds, newApp } from './app-fixtures'
import { uploadBuild } from './build-fixtures'
import type { OrgFixture } from './fixtures'
import { type Answer, call, waitForTask } from './helpers'
import { makeTar, seededBytes, type TarEntry } from './tar-fixture'

/** Block size of the test builds: the smallest an app allows. */
export const BLOCK = 4096

/**
 * A small game: a boot file, two packs read later, and `late.pak` at the end of the tar that
 * every session reads at start, so the native order makes launchers wait for everything.
 */
export function gameEntries(seed = 1): TarEntry[] {
  return [
    { path: 'game', type: 'dir' },
    { path: 'game/boot.bin', data: seededBytes(seed, 2 * BLOCK) },
    { path: 'game/data', type: 'dir' },
    { path: 'game/data/a.pak', data: seededBytes(seed + 1, 16 * BLOCK) },
    { path: 'game/data/b.pak', data: seededBytes(seed + 2, 16 * BLOCK + 100) },
    { path: 'game/data/late.pak', data: seededBytes(seed + 3, 12 * BLOCK) },
  ]
}

/** An app with one ready build, and what its tests need to reach it. */
export interface TrainingApp {
  org: OrgFixture
  name: string
  orgId: string
  appId: string
  traceKey: string
  buildName: string
  buildId: number
}

/** Creates an app (block size {@link BLOCK}) and imports one build of `entries` through mkraw. */
export async function appWithBuild(
  org: OrgFixture,
  training: Record<string, unknown> = {},
  entries: TarEntry[] = gameEntries(),
): Promise<TrainingApp> {
  const app = await newApp(org, { blockSize: BLOCK, training })
  const ids = await appIds(org.orgName, app.name)
  const built = await importBuild({ org, name: app.name, ...ids }, entries)
  return { org, name: app.name, ...ids, traceKey: app.traceKey, ...built }
}

/** Imports one more build of `entries` for `app`; waits for its mkraw task to succeed. */
export async function importBuild(
  app: { org: OrgFixture; name: string; orgId: string; appId: string },
  entries: TarEntry[],
) {
  const { created, mkraw } = await uploadBuild(app, makeTar(entries))
  const task = await waitForTask(mkraw, 30_000)
  expect(task.state, JSON.stringify(task.exception)).toBe('succeeded')
  return {
    buildName: created.body.build.buildName as string,
    buildId: created.body.build.buildId as number,
  }
}

/** The trace-key headers of `app`. */
export function traceHeaders(app: TrainingApp): Record<string, string> {
  return {
    'x-rockit-orgname': app.org.orgName,
    'x-rockit-appname': app.name,
    'x-rockit-trace-key': app.traceKey,
  }
}

let sessions = 0

/** A unique session id. */
export function sessionId(): string {
  sessions++
  return `session-${sessions}-${Math.random().toString(36).slice(2, 10)}`
}

/** A trace file: the header (a new session unless given) and the reads. */
export function traceFile(reads: TraceRead[], header: Partial<TraceHeader> = {}): string {
  return serialiseTrace(
    { format: 'rockit-trace/1', sessionId: sessionId(), durationMs: 600_000, ...header },
    reads,
  )
}

/** A session as the game plays it: boot and `late.pak` at start, a pack later on. */
export function playedSession(variant: number): TraceRead[] {
  const later = variant % 2 === 0 ? 'game/data/a.pak' : 'game/data/b.pak'
  return [
    [0, 'game/boot.bin', 0, 2 * BLOCK],
    [5, 'game/data/late.pak', 0, 12 * BLOCK],
    [60_000 + variant, later, (variant % 4) * BLOCK, 4 * BLOCK],
  ]
}

/** Uploads played sessions 0 to `count - 1` and waits until the app counts `count` traces. */
export async function uploadPlayedSessions(app: TrainingApp, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    expect((await uploadTrace(app, traceFile(playedSession(i)))).status).toBe(202)
  }
  await eventually('traces counted', async () =>
    (await figuresOf(app)).nTraces >= count ? true : undefined,
  )
}

/**
 * A manual `mkdxf` run of the app's first image, submitted with `start: false` so a test steps
 * it by hand (`stepTask`, `driveTask`); returns its task name.
 */
export function stagedMkdxf(app: TrainingApp): Promise<string> {
  return submitTask(env, {
    type: 'mkdxf',
    orgId: app.orgId,
    appId: app.appId,
    appName: app.name,
    buildName: app.buildName,
    params: {
      orgName: app.org.orgName,
      buildId: app.buildId,
      dxfName: `dxf-${buildIdText(app.buildId)}-01`,
      manual: true,
    },
    start: false,
  })
}

/** Runs `processTraces` for the app through the API and waits for its `mkdxf` to succeed. */
export async function processTracesNow(app: TrainingApp) {
  const answer = await call('POST', '/be/v1/trigger', {
    headers: app.org.headers,
    body: { type: 'processTraces', appName: app.name },
  })
  expect(answer.status, JSON.stringify(answer.body)).toBe(202)
  const task = await waitForTask(answer.body.taskName, 30_000)
  expect(task.state, JSON.stringify(task.exception)).toBe('succeeded')
  return task
}

/** POSTs a trace body with the app's trace key (and NDJSON content type unless told). */
export function uploadTrace(
  app: TrainingApp,
  body: BodyInit,
  headers: Record<string, string> = {},
): Promise<Answer> {
  return call('POST', '/client/v1/traces', {
    raw: body,
    headers: { 'content-type': 'application/x-ndjson', ...traceHeaders(app), ...headers },
  })
}

/** Gzip of `text`, as a launcher would send it. */
export async function gzip(text: string | Uint8Array): Promise<Uint8Array> {
  const bytes = typeof text === 'string' ? new TextEncoder().encode(text) : text
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream('gzip'))
  return new Uint8Array(await new Response(stream).arrayBuffer())
}

/** The coordinator's figures of `app`. */
export function figuresOf(app: TrainingApp): Promise<TrainingFigures> {
  return coordinatorOf(env, app.org.orgName, app.name).figures(
    { orgId: app.orgId, orgName: app.org.orgName, appId: app.appId, appName: app.name },
    app.buildId,
  )
}

/** Polls until `check` returns a value (not undefined) or the time is up. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 20_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}

/** The app's tasks of `type`, oldest first. */
export async function appTasks(appId: string, type: string) {
  const rows = await dbOf(env)
    .select()
    .from(tasks)
    .where(and(eq(tasks.appId, appId), eq(tasks.type, type)))
    .all()
  return rows.sort((a, b) => (a.created < b.created ? -1 : a.created > b.created ? 1 : 0))
}
