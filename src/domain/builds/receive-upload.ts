/**
 * `PUT /upload/<token>`: the tar of a build created without `url`. The URL is the credential:
 * single use, expiring, dead once its task was expired. Headers are checked before anything
 * changes, so a PUT refused for them (411, 413, 415, 400 for an empty body) leaves the URL
 * usable. Then the URL is used up and the task claimed, each by one conditional UPDATE, so of
 * two PUTs racing only one streams. A body that breaks off fails the build's task and the URL stays used: the client
 * creates a new build (documented in docs/builds.md).
 */
import { and, eq, gt } from 'drizzle-orm'
import { dbOf, isoNow } from '../../db/client'
import { builds, tasks, uploads } from '../../db/schema'
import { type Env, settingsOf } from '../../env'
import { emitTaskEvent } from '../../events/emit'
import {
  ApiError,
  gone,
  invalidParam,
  lengthRequired,
  notFound,
  tooLarge,
  unsupportedType,
} from '../../http/errors'
import type { Logger } from '../../http/log'
import { buildKeys } from '../../storage/keys'
import { BodyLengthError, storeBody } from '../../storage/store-body'
import { loadTask } from '../../tasks/store'
import type { TaskException, TaskRecord } from '../../tasks/types'
import { sha256Hex } from '../auth/secrets'
import { mkrawTaskNameOf, tarReceived } from './tar-received'

/** The one content type a build upload takes. */
export const TAR_CONTENT_TYPE = 'application/x-tar'

export interface ReceivedUpload {
  /** The build's new mkraw task. */
  taskName: string
  sizeBytes: number
}

async function findUpload(env: Env, token: string) {
  const hash = await sha256Hex(token)
  const row = await dbOf(env).select().from(uploads).where(eq(uploads.hash, hash)).get()
  if (!row) throw notFound('upload URL')
  return row
}

function checkHeaders(env: Env, headers: Headers, task: TaskRecord): number {
  const type = headers.get('content-type')?.split(';')[0].trim().toLowerCase()
  if (type !== TAR_CONTENT_TYPE) throw unsupportedType(TAR_CONTENT_TYPE)
  const announced = headers.get('content-length')
  if (announced === null) throw lengthRequired()
  if (!/^\d+$/.test(announced)) {
    throw invalidParam([{ field: 'Content-Length', reason: 'must be a number of bytes' }])
  }
  const length = Number(announced)
  if (length === 0) {
    throw invalidParam([
      { field: 'Content-Length', reason: 'is 0: the body is empty; send the build tar' },
    ])
  }
  const limit = settingsOf(env).maxUploadBytes
  if (length > limit)
    throw tooLarge(`the build has ${length} bytes; this instance accepts ${limit}`)
  const expected = task.params.size
  if (typeof expected === 'number' && expected !== length) {
    throw invalidParam([
      {
        field: 'Content-Length',
        reason: `the build was announced with size ${expected}, the upload has ${length}`,
      },
    ])
  }
  return length
}

/** Uses the URL up and moves its task to running; 410 when another PUT or an expiry won. */
async function claim(env: Env, hash: string, task: TaskRecord): Promise<TaskRecord> {
  const db = dbOf(env)
  const used = await db
    .update(uploads)
    .set({ used: true })
    .where(and(eq(uploads.hash, hash), eq(uploads.used, false), gt(uploads.expires, isoNow())))
    .returning({ hash: uploads.hash })
  if (used.length === 0) throw gone('this upload URL was used already or has expired')
  const running = await db
    .update(tasks)
    .set({ state: 'running', started: isoNow(), attempts: 1, updated: isoNow() })
    .where(and(eq(tasks.id, task.taskName), eq(tasks.state, 'submitted')))
    .returning({ id: tasks.id })
  if (running.length === 0) throw gone(`the build's transfer task ${task.taskName} has ended`)
  const claimed = (await loadTask(env, task.taskName)) as TaskRecord
  await emitTaskEvent(env, claimed, 'begin')
  return claimed
}

async function endTask(
  env: Env,
  task: TaskRecord,
  outcome: { result?: object; exception?: TaskException },
) {
  const ended = await dbOf(env)
    .update(tasks)
    .set({
      state: outcome.exception ? 'failed' : 'succeeded',
      progress: outcome.exception ? task.progress : 1,
      result: outcome.result ? JSON.stringify(outcome.result) : null,
      exception: outcome.exception ? JSON.stringify(outcome.exception) : null,
      seq: task.seq + 1,
      ended: isoNow(),
      updated: isoNow(),
    })
    .where(and(eq(tasks.id, task.taskName), eq(tasks.state, 'running')))
    .returning({ id: tasks.id })
  if (ended.length === 0) return
  const record = (await loadTask(env, task.taskName)) as TaskRecord
  await emitTaskEvent(env, record, outcome.exception ? 'error' : 'end')
}

/** Receives the tar PUT to `token`. */
export async function receiveUpload(
  env: Env,
  token: string,
  request: Request,
  log: Logger,
): Promise<ReceivedUpload> {
  const upload = await findUpload(env, token)
  const task = await loadTask(env, upload.taskId)
  if (!task) throw notFound('upload URL')
  if (upload.used) throw gone('this upload URL was used already')
  if (upload.expires <= isoNow()) throw gone(`this upload URL expired at ${upload.expires}`)
  if (task.state !== 'submitted') throw gone(`the build's transfer task is ${task.state}`)
  const length = checkHeaders(env, request.headers, task)

  const running = await claim(env, upload.hash, task)
  const buildId = Number(task.params.buildId)
  const tarKey = buildKeys(task.orgId as string, task.appId as string, buildId).tar
  try {
    await storeBody(env.BUCKET, tarKey, request.body, length, {
      httpMetadata: { contentType: TAR_CONTENT_TYPE },
    })
  } catch (error) {
    const short = error instanceof BodyLengthError
    const message = short ? error.message : `storing the upload failed: ${String(error)}`
    await endTask(env, running, { exception: { code: 'uploadFailed', message } })
    await dbOf(env)
      .update(builds)
      .set({ state: 'failed' })
      .where(and(eq(builds.appId, task.appId as string), eq(builds.buildId, buildId)))
    await env.BUCKET.delete(tarKey)
    log.warn('build upload failed', { taskName: task.taskName, buildId, reason: message })
    if (short) throw invalidParam([{ field: 'body', reason: message }])
    throw new ApiError(500, 'internal', 'storing the upload failed; create a new build')
  }

  await endTask(env, running, {
    result: { sizeBytes: length, mkrawTaskName: mkrawTaskNameOf(running.taskName) },
  })
  const mkraw = await tarReceived(env, running)
  log.info('build uploaded', { taskName: task.taskName, buildId, sizeBytes: length })
  return { taskName: mkraw, sizeBytes: length }
}
