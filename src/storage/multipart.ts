/**
 * R2 multipart uploads as steps use them: every part but the last has the same size of at least
 * 5 MiB (R2 and local R2 refuse anything else) and an object has at most 10,000 parts. An upload
 * is saved in a task cursor as `{key, uploadId, parts}` and resumed in a later step.
 */

export const MiB = 1024 * 1024

/** Smallest size of a part that is not the last one. */
export const MIN_PART_BYTES = 5 * MiB

/** Most parts one object may have. */
export const MAX_PARTS = 10_000

/** A multipart upload in progress, as a task cursor stores it. */
export interface SavedUpload {
  key: string
  uploadId: string
  parts: R2UploadedPart[]
}

/**
 * The part size for an object of `totalBytes`: at least `minimum` (8 MiB by default), a whole
 * number of MiB, and large enough that the object needs at most 10,000 parts.
 *
 * @example partSizeFor(100 * 1024 ** 3) // 11 MiB: 100 GiB in 9,310 parts
 */
export function partSizeFor(totalBytes: number, minimum = 8 * MiB): number {
  const floor = Math.max(minimum, MIN_PART_BYTES)
  const needed = Math.ceil(totalBytes / MAX_PARTS / MiB) * MiB
  return Math.max(floor, needed)
}

/** Starts an upload and returns it in its saved form. */
export async function startUpload(
  bucket: R2Bucket,
  key: string,
  options?: R2MultipartOptions,
): Promise<SavedUpload> {
  const upload = await bucket.createMultipartUpload(key, options)
  return { key, uploadId: upload.uploadId, parts: [] }
}

/**
 * Uploads part `partNumber` and returns the saved upload with it. Uploading a part number again
 * replaces it, so a step that runs twice leaves one copy.
 */
export async function uploadPart(
  bucket: R2Bucket,
  saved: SavedUpload,
  partNumber: number,
  bytes: Uint8Array,
): Promise<SavedUpload> {
  const part = await bucket
    .resumeMultipartUpload(saved.key, saved.uploadId)
    .uploadPart(partNumber, bytes)
  const parts = saved.parts.filter((known) => known.partNumber !== partNumber)
  parts.push(part)
  parts.sort((a, b) => a.partNumber - b.partNumber)
  return { ...saved, parts }
}

/**
 * Completes an upload. A step that completed it before crashing finds the object already there:
 * that counts as done when its size is `expectedBytes`.
 */
export async function completeUpload(
  bucket: R2Bucket,
  saved: SavedUpload,
  expectedBytes: number,
): Promise<void> {
  try {
    const object = await bucket
      .resumeMultipartUpload(saved.key, saved.uploadId)
      .complete(saved.parts)
    if (object.size !== expectedBytes) {
      throw new Error(`${saved.key} has ${object.size} bytes, expected ${expectedBytes}`)
    }
  } catch (error) {
    const existing = await bucket.head(saved.key)
    if (existing?.size !== expectedBytes) throw error
  }
}

/** Aborts an upload; one already completed or aborted is left as it is. */
export async function abortUpload(bucket: R2Bucket, saved: SavedUpload | undefined): Promise<void> {
  if (!saved) return
  try {
    await bucket.resumeMultipartUpload(saved.key, saved.uploadId).abort()
  } catch {
    // Already completed or aborted: nothing to undo.
  }
}
