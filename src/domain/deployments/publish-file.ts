/**
 * Sending one bounded unit of a file to an origin: the whole file, or one part of a multipart
 * upload read from an R2 range, so no step holds more than a part and none is ever held whole.
 * Then, once per deployment, the check that the origin serves byte ranges.
 */

import type { Env } from '../../env'
import { TaskFailure } from '../../tasks/types'
import { type Origin, OriginError, type UploadedPart } from '../origins/origin'
import type { PublishFile } from './publish-plan'

const MiB = 1024 * 1024

/** Files above one part go in parts of this size unless the task asks otherwise. */
export const DEFAULT_PART_BYTES = 64 * MiB
/** S3 and R2 refuse smaller parts (but the last) and larger ones. */
export const MIN_PART_BYTES = 5 * MiB
export const MAX_PART_BYTES = 5 * 1024 * MiB
const MAX_PARTS = 10_000

/** Where a multipart upload of one file stands. */
export interface FileProgress {
  uploadId: string
  partSize: number
  parts: UploadedPart[]
}

/** The part size for a file: the wanted size, grown so the parts stay within 10,000. */
export function partSizeFor(size: number, wanted = DEFAULT_PART_BYTES): number {
  const floor = Math.min(MAX_PART_BYTES, Math.max(MIN_PART_BYTES, wanted))
  const least = Math.ceil(size / MAX_PARTS / MiB) * MiB
  return Math.max(floor, least)
}

async function source(env: Env, file: PublishFile, range?: { offset: number; length: number }) {
  const object = await env.BUCKET.get(file.source, range ? { range } : undefined)
  if (!object) {
    throw new TaskFailure({
      code: 'imageMissing',
      message: `${file.path} is missing from storage (${file.source})`,
    })
  }
  return object.body
}

/** Result of one unit: the file is complete, or the multipart progress to save. */
export type UnitOutcome =
  | { done: true; bytes: number }
  | { done: false; bytes: number; progress: FileProgress }

/**
 * Sends the next unit of `file` to `key`: the whole file when it fits one part (or the origin
 * takes whole files only), else starts the upload, sends the next part, or completes it.
 */
export async function publishUnit(
  env: Env,
  origin: Origin,
  file: PublishFile,
  key: string,
  progress: FileProgress | undefined,
  wantedPartSize?: number,
): Promise<UnitOutcome> {
  const partSize = progress?.partSize ?? partSizeFor(file.size, wantedPartSize)
  if (!origin.multipart || file.size <= partSize) {
    await origin.put(key, await source(env, file), file.size, file.contentType)
    return { done: true, bytes: file.size }
  }

  const current =
    progress ??
    ({
      uploadId: await origin.multipart.start(key, file.contentType),
      partSize,
      parts: [],
    } satisfies FileProgress)
  const partNumber = current.parts.length + 1
  const offset = (partNumber - 1) * current.partSize
  const length = Math.min(current.partSize, file.size - offset)
  const etag = await origin.multipart.putPart(
    key,
    current.uploadId,
    partNumber,
    await source(env, file, { offset, length }),
    length,
  )
  const parts = [...current.parts, { partNumber, etag }]
  if (offset + length < file.size) {
    return { done: false, bytes: length, progress: { ...current, parts } }
  }
  await origin.multipart.complete(key, current.uploadId, parts)
  return { done: true, bytes: length }
}

/**
 * Checks that `origin` answers a ranged GET of the file just published at `key` with 206 and
 * the right bytes; launchers depend on it. Fails `originNoRange` otherwise. Returns false when
 * the file is empty (nothing to check).
 */
export async function verifyRange(
  env: Env,
  origin: Origin,
  file: PublishFile,
  key: string,
): Promise<boolean> {
  if (file.size === 0) return false
  const offset = Math.floor(file.size / 2)
  const length = Math.min(256, file.size - offset)
  const expected = new Uint8Array(
    await new Response(await source(env, file, { offset, length })).arrayBuffer(),
  )
  const answer = await origin.getRange(key, offset, length)
  const where = `${origin.where} (${key}, bytes ${offset}-${offset + length - 1})`
  if (answer.status !== 206) {
    throw new OriginError(
      'originNoRange',
      `origin ${where} answered a ranged GET with ${answer.status} instead of 206; ` +
        'launchers need Range support',
      answer.status,
    )
  }
  const same =
    answer.bytes.length === expected.length && answer.bytes.every((b, i) => b === expected[i])
  if (!same) {
    throw new OriginError(
      'originNoRange',
      `origin ${where} answered a ranged GET with the wrong bytes`,
      answer.status,
    )
  }
  return true
}

/** Runs `send`, trying again twice after a transient origin error (network, 5xx, 429). */
export async function withRetries<T>(send: () => Promise<T>, delaysMs = [250, 1000]): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await send()
    } catch (error) {
      const transient = error instanceof OriginError && error.transient
      if (!transient || attempt >= delaysMs.length) throw error
      await new Promise((resolve) => setTimeout(resolve, delaysMs[attempt]))
    }
  }
}
