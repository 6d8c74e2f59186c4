/**
 * Creating a build: the next number of its app, its name, and its `dltar` task. With a `url`
 * the task downloads at once; without, it waits for a PUT to a new single-use upload URL whose
 * token is stored only as a hash. Numbers are never reused, even after a failure; the name of a
 * failed or deleted build may be taken again (the old row keeps it with a `~<buildId>` suffix).
 */
import { and, eq, inArray, sql } from 'drizzle-orm'
import { dbOf, isoNow } from '../../db/client'
import { builds, uploads } from '../../db/schema'
import { type Env, settingsOf } from '../../env'
import { ApiError, conflict, invalidParam } from '../../http/errors'
import { buildKeys } from '../../storage/keys'
import { submitTask } from '../../tasks/service'
import { requireApp } from '../apps/find-app'
import { newId, newSecret, sha256Hex } from '../auth/secrets'
import { targetProblem } from '../net/target-check'
import type { AppRow, BuildRow } from './build-job'
import { type BuildView, buildView } from './build-view'

export interface CreateBuildInput {
  appName: string
  buildName?: string
  url?: string
  size?: number
}

export interface CreatedBuild {
  build: BuildView
  taskName: string
  /** Without `url`: where to PUT the tar, and until when. */
  uploadUrl?: string
  expires?: string
}

/** Tries when two creates race for the same number. */
const NUMBER_ATTEMPTS = 3

function isUnique(error: unknown, index: string) {
  const text = String(error instanceof Error && error.cause ? error.cause : error)
  return text.includes('UNIQUE') && text.includes(index)
}

/** Frees `buildName` when only a failed or deleted build holds it. */
async function releaseName(env: Env, appId: string, buildName: string) {
  await dbOf(env)
    .update(builds)
    .set({ buildName: sql`${builds.buildName} || '~' || printf('%04d', ${builds.buildId})` })
    .where(
      and(
        eq(builds.appId, appId),
        eq(builds.buildName, buildName),
        inArray(builds.state, ['failed', 'deleted']),
      ),
    )
}

/** Inserts the build with the app's next number in one statement; 409 for a taken name. */
async function insertBuild(env: Env, app: AppRow, buildName?: string): Promise<BuildRow> {
  const db = dbOf(env)
  for (let attempt = 1; ; attempt++) {
    const id = newId()
    try {
      const inserted = await env.DB.prepare(
        `INSERT INTO builds (id, org_id, app_id, build_id, build_name, state, block_size)
         SELECT ?1, ?2, ?3, n, coalesce(?4, printf('build-%04d', n)), 'pending', ?5
         FROM (SELECT coalesce(max(build_id), 0) + 1 AS n FROM builds WHERE app_id = ?3)
         RETURNING build_id AS buildId`,
      )
        .bind(id, app.orgId, app.id, buildName ?? null, app.blockSize)
        .first<{ buildId: number }>()
      const buildId = inserted?.buildId as number
      await db
        .update(builds)
        .set({ tarKey: buildKeys(app.orgId, app.id, buildId).tar })
        .where(eq(builds.id, id))
      return (await db.select().from(builds).where(eq(builds.id, id)).get()) as BuildRow
    } catch (error) {
      if (isUnique(error, 'build_name')) {
        throw conflict(`build ${buildName ?? '(default name)'} exists already in app ${app.name}`)
      }
      if (!isUnique(error, 'build_id') || attempt >= NUMBER_ATTEMPTS) throw error
    }
  }
}

/** The absolute upload URL of `token`: on the public URL, else on the request's origin. */
export function uploadUrlOf(env: Env, requestOrigin: string, token: string): string {
  const base = settingsOf(env).publicUrl || requestOrigin
  return `${base}/upload/${token}`
}

/** Creates a build of app `input.appName` in org `orgId`. */
export async function createBuild(
  env: Env,
  orgId: string,
  input: CreateBuildInput,
  requestOrigin: string,
): Promise<CreatedBuild> {
  const settings = settingsOf(env)
  const app = await requireApp(env, orgId, input.appName)
  if (input.url !== undefined) {
    const problem = targetProblem(input.url, {
      allowPrivateTargets: settings.allowPrivateTargets,
      selfUrl: settings.publicUrl || requestOrigin,
    })
    if (problem) throw invalidParam([{ field: 'url', reason: problem }])
  }
  if (input.size !== undefined && input.size > settings.maxUploadBytes) {
    const reason = `${input.size} is over this instance's limit of ${settings.maxUploadBytes}`
    throw new ApiError(413, 'tooLarge', `size ${reason}`, { details: [{ field: 'size', reason }] })
  }

  if (input.buildName !== undefined) await releaseName(env, app.id, input.buildName)
  const row = await insertBuild(env, app, input.buildName)
  const params: Record<string, unknown> = { buildId: row.buildId }
  if (input.url !== undefined) params.url = input.url
  if (input.size !== undefined) params.size = input.size
  const taskName = await submitTask(env, {
    type: 'dltar',
    orgId,
    appId: app.id,
    appName: app.name,
    buildName: row.buildName,
    params,
    start: input.url !== undefined,
  })
  const build = buildView(row, app.name)
  if (input.url !== undefined) return { build, taskName }

  const token = newSecret('rku')
  const expires = isoNow(settings.uploadUrlTtlSec)
  await dbOf(env)
    .insert(uploads)
    .values({ hash: await sha256Hex(token), taskId: taskName, expires })
  return { build, taskName, uploadUrl: uploadUrlOf(env, requestOrigin, token), expires }
}
