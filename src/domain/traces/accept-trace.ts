/**
 * Accepting a trace upload (API.md section 6): check it against the build its header names,
 * keep the original and the normalised form in R2 and a row in D1, all before answering, then
 * tell the app's coordinator. The same session uploaded again answers with the first trace.
 */
import { and, eq } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { builds, traces } from '../../db/schema'
import type { BuildModel } from '../../engine/build-model'
import { encodeNormalisedTrace } from '../../engine/trace-codec'
import { quoted, TraceError, TraceLimitError } from '../../engine/trace-errors'
import { MAX_TRACE_BYTES, MAX_TRACE_READS, type ParsedTrace } from '../../engine/trace-parse'
import type { TraceHeader } from '../../engine/trace-types'
import type { Env } from '../../env'
import { ApiError, badLine, tooLarge } from '../../http/errors'
import type { Logger } from '../../http/log'
import { dxfNameOf, imageKeys, traceKeys } from '../../storage/keys'
import { storeBody } from '../../storage/store-body'
import type { AppRow } from '../apps/find-app'
import { newId } from '../auth/secrets'
import { announceTraces } from '../training/announce'
import {
  type ImageOrder,
  loadBuildModel,
  loadImageOrder,
  MissingBuildData,
} from '../training/build-store'
import { readTrace, type TraceTarget } from './read-trace'

/** A trace body as the request brings it. */
export interface TraceUpload {
  body: ReadableStream<Uint8Array>
  /** Content-Length when the client sent one (the body is then streamed straight to R2). */
  contentLength: number | null
}

/** What the upload came to. */
export interface AcceptedTrace {
  traceId: string
  /** True when this session had been uploaded before: nothing new was stored. */
  duplicate: boolean
}

type BuildRow = typeof builds.$inferSelect

/** The build the header names; refused on the header's line (`headerLine`) otherwise. */
async function keptBuild(
  env: Env,
  app: AppRow,
  header: TraceHeader,
  headerLine: number,
): Promise<BuildRow> {
  const byName = header.buildName !== undefined
  if (!byName && app.iCurBuild === null) {
    throw new TraceError(headerLine, 'the app has no current build yet; name one with buildName')
  }
  const build = await dbOf(env)
    .select()
    .from(builds)
    .where(
      and(
        eq(builds.appId, app.id),
        byName
          ? eq(builds.buildName, header.buildName as string)
          : eq(builds.buildId, app.iCurBuild as number),
        eq(builds.state, 'ready'),
      ),
    )
    .get()
  if (!build) throw notKept(header, headerLine)
  return build
}

/** The refusal of a header whose build is not (or no longer) a ready build of the app. */
function notKept(header: TraceHeader, headerLine: number): TraceError {
  return new TraceError(
    headerLine,
    header.buildName !== undefined
      ? `buildName ${quoted(header.buildName)} is not a kept build of the app`
      : 'the current build of the app is not ready',
  )
}

/** True while build `buildId` of `appId` is still `ready` (eviction marks it `deleted`). */
async function stillKept(env: Env, appId: string, buildId: number): Promise<boolean> {
  const row = await dbOf(env)
    .select({ state: builds.state })
    .from(builds)
    .where(and(eq(builds.appId, appId), eq(builds.buildId, buildId)))
    .get()
  return row?.state === 'ready'
}

/** True when `dxfName` names an image of build `buildId` (`dxf-0007-03` of build 7). */
function isImageOf(dxfName: string, buildId: number): boolean {
  const number = Number(dxfName.slice(dxfName.lastIndexOf('-') + 1))
  return dxfNameOf(buildId, number) === dxfName
}

/**
 * The image the header names in `dxfName`: an image of the trace's build still in R2. A
 * launcher still streaming an image training has replaced sends offsets of that image, which
 * only its own order maps to the right blocks.
 */
async function namedImage(env: Env, build: BuildRow, dxfName: string, headerLine: number) {
  const named = `dxfName ${quoted(dxfName)}`
  if (!isImageOf(dxfName, build.buildId)) {
    throw new TraceError(headerLine, `${named} is not an image of build ${build.buildName}`)
  }
  const missing = new TraceError(
    headerLine,
    `${named} is not a stored image of build ${build.buildName}`,
  )
  // Orders are cached per isolate: only R2 says whether the image is still kept.
  if (!(await env.BUCKET.head(imageKeys(build.orgId, build.appId, dxfName).image))) throw missing
  try {
    return await loadImageOrder(env, build.orgId, build.appId, dxfName)
  } catch (error) {
    if (error instanceof MissingBuildData) throw missing
    throw error
  }
}

/** The build's model and the order of the image its `"@"` reads refer to (the current one). */
async function targetOf(
  env: Env,
  build: BuildRow,
  header: TraceHeader,
  headerLine: number,
): Promise<TraceTarget> {
  let model: BuildModel
  let image: ImageOrder | undefined
  try {
    model = await loadBuildModel(env, build)
    if (header.dxfName === undefined && build.dxfName) {
      image = await loadImageOrder(env, build.orgId, build.appId, build.dxfName)
    }
  } catch (error) {
    if (error instanceof MissingBuildData) {
      throw new TraceError(
        headerLine,
        `build ${build.buildName} has no block tables to check traces against`,
      )
    }
    throw error
  }
  if (header.dxfName !== undefined) {
    image = await namedImage(env, build, header.dxfName, headerLine)
  }
  return image ? { model, imageOrder: image.order, imageBase: image.headerLength } : { model }
}

/** Reads the whole body up to `max` bytes (for a body sent without Content-Length). */
async function bodyBytes(body: ReadableStream<Uint8Array>, max: number): Promise<Uint8Array> {
  const pieces: Uint8Array[] = []
  let total = 0
  for await (const piece of body) {
    total += piece.length
    if (total > max) throw tooLarge(`trace body over ${max} bytes`)
    pieces.push(piece)
  }
  const bytes = new Uint8Array(total)
  let at = 0
  for (const piece of pieces) {
    bytes.set(piece, at)
    at += piece.length
  }
  return bytes
}

function singleChunk(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(bytes)
      controller.close()
    },
  })
}

/**
 * Starts keeping the original body in R2 while the parser reads it. With a Content-Length the
 * body is split and streamed (`storeBody`: a body of another length is refused); without one it
 * is read into memory first (bounded). `settled` waits for the storing to end, however it ends.
 */
async function keepOriginal(env: Env, upload: TraceUpload, rawKey: string) {
  const options = { customMetadata: { kind: 'trace-original' } }
  if (upload.contentLength === null) {
    const bytes = await bodyBytes(upload.body, MAX_TRACE_BYTES)
    const stored = env.BUCKET.put(rawKey, bytes, options)
    return { parseInput: singleChunk(bytes), stored, settled: () => Promise.allSettled([stored]) }
  }
  const [toParse, toStore] = upload.body.tee()
  const stored = storeBody(env.BUCKET, rawKey, toStore, upload.contentLength, options)
  // Awaited only once the parse succeeds; a refused trace waits on `settled` instead, and the
  // copy of a body that broke off must not end as an unhandled rejection meanwhile.
  stored.catch(() => {})
  return { parseInput: toParse, stored, settled: () => Promise.allSettled([stored]) }
}

function asApiError(error: unknown): unknown {
  if (error instanceof TraceError) return badLine(error.line, error.reason)
  if (error instanceof TraceLimitError) return tooLarge(error.message)
  return error
}

async function existingTrace(env: Env, appId: string, sessionId: string) {
  return dbOf(env)
    .select({ id: traces.id })
    .from(traces)
    .where(and(eq(traces.appId, appId), eq(traces.sessionId, sessionId)))
    .get()
}

/**
 * Checks and stores one trace of `app`. Throws the API's 422 (a line that does not fit its
 * build), 413 (over the limits) or 400 (a body shorter or longer than its Content-Length, or
 * broken off: `BodyEndedEarly`, when the route passes the body through `guardedBody`).
 */
export async function acceptTrace(
  env: Env,
  org: { id: string; name: string },
  app: AppRow,
  upload: TraceUpload,
  log: Logger,
): Promise<AcceptedTrace> {
  const traceId = newId()
  const keys = traceKeys(org.id, app.id, traceId)
  let build: BuildRow | undefined
  const original = await keepOriginal(env, upload, keys.raw)

  let parsed: ParsedTrace
  try {
    parsed = await readTrace(
      original.parseInput,
      async (header, headerLine) => {
        build = await keptBuild(env, app, header, headerLine)
        return targetOf(env, build, header, headerLine)
      },
      { maxBytes: MAX_TRACE_BYTES, maxReads: MAX_TRACE_READS },
    )
  } catch (error) {
    // The copy goes on to the end of the body (at most MAX_TRACE_BYTES, the length was
    // checked): a body left half read breaks the connection for the client's next request
    // behind some proxies (wrangler dev's among them). Only once the copy has ended, however
    // it ended, can it be deleted for good; deleting earlier let a late write leave an orphan.
    await original.settled()
    await env.BUCKET.delete(keys.raw)
    throw asApiError(error)
  }
  try {
    await original.stored
  } catch (error) {
    await original.settled()
    await env.BUCKET.delete(keys.raw)
    log.warn('trace body not stored', { error: String(error) })
    throw new ApiError(400, 'invalidParam', 'the body does not match its Content-Length')
  }

  const known = await existingTrace(env, app.id, parsed.header.sessionId)
  if (known) {
    await env.BUCKET.delete(keys.raw)
    return { traceId: known.id, duplicate: true }
  }

  const kept = build as BuildRow
  await env.BUCKET.put(
    keys.normalised,
    encodeNormalisedTrace({ header: parsed.header, firstAccess: parsed.firstAccess }),
  )
  const inserted = await dbOf(env)
    .insert(traces)
    .values({
      id: traceId,
      orgId: org.id,
      appId: app.id,
      buildId: kept.buildId,
      sessionId: parsed.header.sessionId,
      durationMs: parsed.durationMs,
      reads: parsed.reads,
      blocksTouched: parsed.firstAccess.blocks.length,
      firstSession: parsed.header.firstSession ?? null,
      rawKey: keys.raw,
      normKey: keys.normalised,
    })
    .onConflictDoNothing()
    .returning({ id: traces.id })
  if (inserted.length === 0) {
    // Another upload of the same session won the race: keep its trace, drop this copy.
    await env.BUCKET.delete([keys.raw, keys.normalised])
    const first = await existingTrace(env, app.id, parsed.header.sessionId)
    return { traceId: first?.id ?? traceId, duplicate: true }
  }
  // The build may have been evicted while the body arrived. Eviction marks it `deleted`, then
  // deletes its traces: a trace inserted before that is deleted by eviction, one inserted
  // after must see the mark here and take itself back, or it is left behind for good.
  if (!(await stillKept(env, app.id, kept.buildId))) {
    await dbOf(env).delete(traces).where(eq(traces.id, traceId))
    await env.BUCKET.delete([keys.raw, keys.normalised])
    throw asApiError(notKept(parsed.header, parsed.headerLine))
  }

  log.info('trace accepted', {
    traceId,
    buildId: kept.buildId,
    reads: parsed.reads,
    blocks: parsed.firstAccess.blocks.length,
    bytes: parsed.textBytes,
  })
  await announceTraces(
    env,
    { orgId: org.id, orgName: org.name, appId: app.id, appName: app.name },
    [traceId],
    log,
  )
  return { traceId, duplicate: false }
}
