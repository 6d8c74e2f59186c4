/**
 * Writing a composed object (image or patch) to R2 in bounded steps. With `sha256` a first pass
 * hashes the whole object, because R2 takes custom metadata only when an upload starts; then the
 * multipart upload starts in a step of its own (so its id is saved before any part exists) and
 * each later step uploads a few parts of one fixed size.
 */
import {
  completeUpload,
  MiB,
  partSizeFor,
  type SavedUpload,
  startUpload,
  uploadPart,
} from '../../../storage/multipart'
import { ResumableSha256, type Sha256State } from '../resumable-sha256'
import { type Composition, CompositionReader } from './composition'

/** Hashing reads the object in slices of this size, so a step holds one slice at a time. */
const HASH_SLICE_BYTES = 8 * MiB

/**
 * R2 reads after which a step stops at the next slice or part, well inside the subrequests of
 * one invocation. Native order needs a few reads per part; a trained order one per block.
 */
export const READS_PER_STEP = 400

/** A composed object being written, as the task cursor stores it. */
export interface CompositionWrite {
  spec: Composition
  /** Destination key. */
  key: string
  contentType: string
  stage: 'hash' | 'start' | 'upload' | 'done'
  /** Bytes hashed so far. */
  hashed: number
  sha?: Sha256State
  /** Lowercase hex SHA-256 of the whole object, once hashed. */
  sha256?: string
  upload?: SavedUpload
  /** Set when the upload starts; the finished object carries it in `customMetadata`. */
  writeId?: string
  partSize: number
  nextPart: number
}

/** A write of `spec` to `key`; with `sha256` the object carries `customMetadata.sha256`. */
export function planWrite(
  spec: Composition,
  key: string,
  options: { sha256: boolean; contentType?: string },
): CompositionWrite {
  return {
    spec,
    key,
    contentType: options.contentType ?? 'application/octet-stream',
    stage: options.sha256 ? 'hash' : 'start',
    hashed: 0,
    partSize: partSizeFor(spec.totalBytes),
    nextPart: 1,
  }
}

/** How far along a write is, 0..1. */
export function writeProgress(write: CompositionWrite): number {
  const total = write.spec.totalBytes || 1
  const uploaded = Math.min(total, (write.nextPart - 1) * write.partSize)
  const hashing = write.sha !== undefined || write.sha256 !== undefined || write.stage === 'hash'
  return hashing ? (write.hashed + uploaded) / (2 * total) : uploaded / total
}

/** Does one step of `write` (about `stepBytes` of reading and writing); returns the new state. */
export async function advanceWrite(
  bucket: R2Bucket,
  write: CompositionWrite,
  stepBytes: number,
): Promise<CompositionWrite> {
  switch (write.stage) {
    case 'hash':
      return hashStep(bucket, write, stepBytes)
    case 'start': {
      // Names this write in the object's metadata: a rerun of the step that completed the
      // upload recognises its own object, and not an earlier one of the same key and size
      // (a patch made again against a new image).
      const writeId = crypto.randomUUID()
      const customMetadata = { writeId, ...(write.sha256 ? { sha256: write.sha256 } : {}) }
      const upload = await startUpload(bucket, write.key, {
        httpMetadata: { contentType: write.contentType },
        customMetadata,
      })
      return { ...write, stage: 'upload', upload, writeId }
    }
    case 'upload':
      return uploadStep(bucket, write, stepBytes)
    case 'done':
      return write
  }
}

async function hashStep(
  bucket: R2Bucket,
  write: CompositionWrite,
  stepBytes: number,
): Promise<CompositionWrite> {
  const reader = await CompositionReader.load(bucket, write.spec)
  const hash = new ResumableSha256(write.sha)
  const total = write.spec.totalBytes
  const stop = Math.min(total, write.hashed + stepBytes)
  let at = write.hashed
  const slice = new Uint8Array(Math.min(HASH_SLICE_BYTES, stop - at))
  while (at < stop && reader.reads < READS_PER_STEP) {
    const end = Math.min(stop, at + HASH_SLICE_BYTES)
    hash.update(await reader.read(at, end, slice))
    at = end
  }
  if (at < total) return { ...write, hashed: at, sha: hash.save() }
  return { ...write, hashed: at, sha: undefined, sha256: hash.hex(), stage: 'start' }
}

async function uploadStep(
  bucket: R2Bucket,
  write: CompositionWrite,
  stepBytes: number,
): Promise<CompositionWrite> {
  const total = write.spec.totalBytes
  const existing = await bucket.head(write.key)
  const ours = write.writeId
    ? existing?.customMetadata?.writeId === write.writeId
    : write.sha256 !== undefined && existing?.customMetadata?.sha256 === write.sha256
  if (existing?.size === total && ours) {
    // A rerun of the step that completed the upload before its cursor was saved.
    return { ...write, nextPart: Math.ceil(total / write.partSize) + 1, stage: 'done' }
  }
  const reader = await CompositionReader.load(bucket, write.spec)
  const partCount = Math.max(1, Math.ceil(total / write.partSize))
  const perStep = Math.max(1, Math.floor(stepBytes / write.partSize))
  let upload = write.upload as SavedUpload
  let part = write.nextPart
  // One buffer for the step's parts: each part is uploaded before the next is read into it.
  const buffer = new Uint8Array(Math.min(write.partSize, total))
  for (let n = 0; n < perStep && part <= partCount && reader.reads < READS_PER_STEP; n++, part++) {
    const start = (part - 1) * write.partSize
    const bytes = await reader.read(start, Math.min(total, start + write.partSize), buffer)
    upload = await uploadPart(bucket, upload, part, bytes)
  }
  if (part <= partCount) return { ...write, upload, nextPart: part }
  await completeUpload(bucket, upload, total)
  return { ...write, upload, nextPart: part, stage: 'done' }
}
