/**
 * The `dltar` task of a build given by `url`: the tar is downloaded into R2 through a multipart
 * upload, a few parts per step, each step one ranged GET that resumes where the last stopped
 * (the upload id, its parts and the offset ride in the cursor). Never more than one part is in
 * memory. A server that ignores `Range` (answers 200) is read to its end within one step.
 * A build sent to its upload URL has a dltar task too, but it never runs: the PUT finishes it.
 */
import { and, eq } from 'drizzle-orm'
import { dbOf } from '../../../db/client'
import { builds, tasks } from '../../../db/schema'
import { settingsOf } from '../../../env'
import {
  abortUpload,
  completeUpload,
  partSizeFor,
  type SavedUpload,
  startUpload,
  uploadPart,
} from '../../../storage/multipart'
import {
  type StepContext,
  type StepOutcome,
  TaskFailure,
  type TaskHandler,
} from '../../../tasks/types'
import { BUILD_STEP_BYTES, type BuildJob, loadBuildJob } from '../build-job'
import { tarReceived } from '../tar-received'
import { networkFailure, type OpenDownload, openDownload, safeUrl } from './download'

/** A download that makes no progress for this long fails with exitCode 28. */
export const DOWNLOAD_TIMEOUT_MS = 60_000

interface DltarCursor {
  upload: SavedUpload
  partSize: number
  /** Bytes stored so far: the next part starts here. */
  offset: number
  /** Size of the file once the server said it. */
  total: number | null
}

interface Download {
  url: string
  expected?: number
  limit: number
  timeoutMs: number
}

function downloadOf(ctx: StepContext): Download {
  const { params } = ctx.task
  if (typeof params.url !== 'string') {
    throw new TaskFailure({
      code: 'uploadExpected',
      message: 'this build is sent to its upload URL, not downloaded; create a new build to retry',
    })
  }
  return {
    url: params.url,
    expected: typeof params.size === 'number' ? params.size : undefined,
    limit: settingsOf(ctx.env).maxUploadBytes,
    timeoutMs: Number(params.timeoutMs ?? DOWNLOAD_TIMEOUT_MS),
  }
}

function sizeMismatch(actual: number, expected: number) {
  return new TaskFailure({
    code: 'sizeMismatch',
    message: `the build has ${actual} bytes, ${expected} were announced`,
    sizeBytesActual: actual,
    sizeBytesExpected: expected,
  })
}

/** Refuses a file whose size is known and wrong or too large. */
function checkTotal(total: number | null, download: Download) {
  if (total === null) return
  if (download.expected !== undefined && total !== download.expected) {
    throw sizeMismatch(total, download.expected)
  }
  if (total > download.limit) {
    throw new TaskFailure({
      code: 'tooLarge',
      message: `the build has ${total} bytes; this instance accepts ${download.limit}`,
      sizeBytesActual: total,
      sizeBytesLimit: download.limit,
    })
  }
}

/** Reads `Content-Range`: `bytes 0-99/1000` gives first 0, total 1000; a star means unknown. */
function parseContentRange(header: string | null) {
  const match = header?.match(/^bytes\s+(?:(\d+)-(\d+)|\*)\/(\d+|\*)$/i)
  if (!match) return null
  return {
    first: match[1] === undefined ? null : Number(match[1]),
    total: match[3] === '*' ? null : Number(match[3]),
  }
}

async function start(job: BuildJob, download: Download): Promise<StepOutcome> {
  checkTotal(download.expected ?? null, download)
  // A retried task starts over: its build may have been marked failed by the last run.
  await dbOf(job.env)
    .update(builds)
    .set({ state: 'pending' })
    .where(and(eq(builds.id, job.build.id), eq(builds.state, 'failed')))
  const upload = await startUpload(job.bucket, job.tarKey, {
    httpMetadata: { contentType: 'application/x-tar' },
  })
  const partSize = partSizeFor(download.expected ?? download.limit)
  const cursor: DltarCursor = { upload, partSize, offset: 0, total: null }
  return { kind: 'continue', cursor: { ...cursor }, progress: 0 }
}

/** Reads the body into parts; returns the upload, the bytes stored and the partial last part. */
async function receive(
  job: BuildJob,
  open: OpenDownload,
  cursor: DltarCursor,
  download: Download,
  skip: number,
) {
  const reader = (open.response.body as ReadableStream<Uint8Array>).getReader()
  const buffer = new Uint8Array(cursor.partSize)
  let fill = 0
  let toSkip = skip
  let upload = cursor.upload
  let stored = cursor.offset
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      let chunk = value
      if (toSkip > 0) {
        const drop = Math.min(toSkip, chunk.length)
        chunk = chunk.subarray(drop)
        toSkip -= drop
      }
      while (chunk.length > 0) {
        const take = Math.min(cursor.partSize - fill, chunk.length)
        buffer.set(chunk.subarray(0, take), fill)
        fill += take
        chunk = chunk.subarray(take)
        if (fill < cursor.partSize) continue
        if (stored + fill > download.limit) checkTotal(stored + fill, download)
        upload = await uploadPart(job.bucket, upload, stored / cursor.partSize + 1, buffer)
        stored += fill
        fill = 0
        open.arm()
      }
    }
  } catch (error) {
    if (error instanceof TaskFailure) throw error
    throw networkFailure(download.url, error, open.timedOut(), 'receive')
  } finally {
    open.close()
  }
  return { upload, stored, last: buffer.subarray(0, fill) }
}

async function finish(
  ctx: StepContext,
  job: BuildJob,
  upload: SavedUpload,
  sizeBytes: number,
  download: Download,
): Promise<StepOutcome> {
  if (download.expected !== undefined && sizeBytes !== download.expected) {
    throw sizeMismatch(sizeBytes, download.expected)
  }
  if ((await job.bucket.head(job.tarKey))?.size === sizeBytes) {
    // Stored already (a rerun): nothing to complete.
  } else if (sizeBytes === 0) {
    await abortUpload(job.bucket, upload)
    await job.bucket.put(job.tarKey, new Uint8Array(0))
  } else {
    await completeUpload(job.bucket, upload, sizeBytes)
  }
  const mkrawTaskName = await tarReceived(ctx.env, ctx.task)
  ctx.log.info('build downloaded', { buildId: job.buildId, sizeBytes, url: safeUrl(download.url) })
  return { kind: 'done', result: { sizeBytes, mkrawTaskName } }
}

async function transfer(
  ctx: StepContext,
  job: BuildJob,
  cursor: DltarCursor,
  download: Download,
): Promise<StepOutcome> {
  const stored = await job.bucket.head(job.tarKey)
  if (stored && (cursor.total === null || stored.size === cursor.total)) {
    // A rerun of the step that completed the upload before its cursor was saved.
    return finish(ctx, job, cursor.upload, stored.size, download)
  }
  const perStep = Math.max(1, Math.floor(job.stepBytes / cursor.partSize))
  let last = cursor.offset + perStep * cursor.partSize - 1
  if (cursor.total !== null) last = Math.min(last, cursor.total - 1)
  const open = await openDownload(
    download.url,
    { first: cursor.offset, last },
    { timeoutMs: download.timeoutMs, target: targetOptions(ctx) },
  )
  const { response } = open
  let total = cursor.total
  let skip = 0
  if (response.status === 416) {
    open.close()
    const range = parseContentRange(response.headers.get('content-range'))
    const size = range?.total ?? cursor.offset
    if (size !== cursor.offset) {
      throw new TaskFailure({
        code: 'downloadFailed',
        message: `${safeUrl(download.url)} refused the range from byte ${cursor.offset}`,
        httpStatus: 416,
      })
    }
    return finish(ctx, job, cursor.upload, size, download)
  }
  if (response.status === 206) {
    const range = parseContentRange(response.headers.get('content-range'))
    if (range?.first !== cursor.offset) {
      open.close()
      throw new TaskFailure({
        code: 'downloadFailed',
        message: `${safeUrl(download.url)} answered another range than byte ${cursor.offset} on`,
        httpStatus: 206,
      })
    }
    total ??= range.total
  } else if (response.status === 200) {
    // The server ignores Range: the body is the whole file; skip what is stored already.
    const length = response.headers.get('content-length')
    if (length !== null) total ??= Number(length)
    skip = cursor.offset
  } else {
    open.close()
    throw new TaskFailure({
      code: 'downloadFailed',
      message: `${safeUrl(download.url)} answered HTTP ${response.status}`,
      httpStatus: response.status,
    })
  }
  checkTotal(total, download)

  const got = await receive(job, open, { ...cursor, total }, download, skip)
  const asked = last + 1
  const ended =
    response.status === 200 ||
    got.last.length > 0 ||
    got.stored < asked ||
    (total !== null && got.stored >= total)
  if (!ended) {
    const moved: DltarCursor = { ...cursor, upload: got.upload, offset: got.stored, total }
    return { kind: 'continue', cursor: { ...moved }, progress: total ? got.stored / total : 0 }
  }

  let upload = got.upload
  let sizeBytes = got.stored
  if (got.last.length > 0) {
    upload = await uploadPart(job.bucket, upload, got.stored / cursor.partSize + 1, got.last)
    sizeBytes += got.last.length
  }
  if (total !== null && sizeBytes !== total) {
    throw new TaskFailure({
      code: 'downloadFailed',
      message: `download of ${safeUrl(download.url)} ended at byte ${sizeBytes} of ${total}`,
      exitCode: 56,
    })
  }
  return finish(ctx, job, upload, sizeBytes, download)
}

function targetOptions(ctx: StepContext) {
  const settings = settingsOf(ctx.env)
  return { allowPrivateTargets: settings.allowPrivateTargets, selfUrl: settings.publicUrl }
}

async function step(ctx: StepContext): Promise<StepOutcome> {
  const download = downloadOf(ctx)
  const job = await loadBuildJob(ctx.env, ctx.task)
  const stepBytes = Number(ctx.task.params.stepBytes ?? BUILD_STEP_BYTES)
  const sized = { ...job, stepBytes }
  const cursor = ctx.task.cursor as DltarCursor | null
  if (!cursor) return start(sized, download)
  return transfer(ctx, sized, cursor, download)
}

/**
 * Undoes a failed transfer: the upload is aborted, the partial tar deleted, the build marked
 * failed; the cursor is reset so that `retryTask` downloads again from the start.
 */
async function onFailed(ctx: StepContext) {
  const { env, task } = ctx
  const cursor = task.cursor as DltarCursor | null
  const buildId = Number(task.params.buildId)
  if (!task.appId || !task.orgId) return
  await abortUpload(env.BUCKET, cursor?.upload)
  const db = dbOf(env)
  const build = await db
    .select()
    .from(builds)
    .where(and(eq(builds.appId, task.appId), eq(builds.buildId, buildId)))
    .get()
  // Once the tar is stored (importing) the build belongs to its mkraw task.
  if (build?.state === 'pending') {
    if (build.tarKey) await env.BUCKET.delete(build.tarKey)
    await db
      .update(builds)
      .set({ state: 'failed' })
      .where(and(eq(builds.id, build.id), eq(builds.state, 'pending')))
  }
  await db.update(tasks).set({ cursor: null }).where(eq(tasks.id, task.taskName))
}

/** Handler of `dltar` tasks (params `{buildId, url?, size?, stepBytes?, timeoutMs?}`). */
export const dltarTask: TaskHandler = { step, onFailed }
