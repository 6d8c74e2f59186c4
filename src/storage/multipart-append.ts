/**
 * An R2 object written by appending, a little per task step, through a multipart upload. Parts
 * must all have one size, so bytes that do not fill a part wait in a small tail object until the
 * next step. Tails are numbered by step: a step that runs twice reads the same tail again and
 * uploads the same part numbers again, so it writes the same object.
 */
import {
  abortUpload,
  completeUpload,
  MIN_PART_BYTES,
  type SavedUpload,
  startUpload,
  uploadPart,
} from './multipart'

/** An appended object in progress, as a task cursor stores it. */
export interface AppendState {
  upload: SavedUpload
  /** Where the tails live: `<tailPrefix><seq>`. */
  tailPrefix: string
  /** Number of the tail object the next append reads. */
  seq: number
  /** Bytes in that tail (0: no tail object). */
  tailBytes: number
  /** Bytes appended so far. */
  bytes: number
}

/** Every part but the last is this size. */
export const APPEND_PART_BYTES = MIN_PART_BYTES

const tailKey = (state: AppendState, seq: number) => `${state.tailPrefix}${seq}`

/** Starts an appended object at `key`; its tails go under `tailPrefix`. */
export async function startAppend(
  bucket: R2Bucket,
  key: string,
  tailPrefix: string,
  options?: R2MultipartOptions,
): Promise<AppendState> {
  const upload = await startUpload(bucket, key, options)
  return { upload, tailPrefix, seq: 0, tailBytes: 0, bytes: 0 }
}

async function readTail(bucket: R2Bucket, state: AppendState): Promise<Uint8Array> {
  if (state.tailBytes === 0) return new Uint8Array(0)
  const object = await bucket.get(tailKey(state, state.seq))
  if (!object)
    throw new Error(`tail ${tailKey(state, state.seq)} of ${state.upload.key} is missing`)
  const bytes = new Uint8Array(await object.arrayBuffer())
  if (bytes.length !== state.tailBytes) throw new Error(`tail of ${state.upload.key} has changed`)
  return bytes
}

function concat(pieces: Uint8Array[]): Uint8Array {
  const total = pieces.reduce((sum, piece) => sum + piece.length, 0)
  const bytes = new Uint8Array(total)
  let at = 0
  for (const piece of pieces) {
    bytes.set(piece, at)
    at += piece.length
  }
  return bytes
}

/** Appends `pieces`; returns the state to save. Full parts go up now, the rest into a new tail. */
export async function append(
  bucket: R2Bucket,
  state: AppendState,
  pieces: Uint8Array[],
): Promise<AppendState> {
  const added = pieces.reduce((sum, piece) => sum + piece.length, 0)
  if (added === 0) return state
  const pending = concat([await readTail(bucket, state), ...pieces])

  let upload = state.upload
  let at = 0
  while (pending.length - at >= APPEND_PART_BYTES) {
    upload = await uploadPart(
      bucket,
      upload,
      upload.parts.length + 1,
      pending.subarray(at, at + APPEND_PART_BYTES),
    )
    at += APPEND_PART_BYTES
  }
  const rest = pending.subarray(at)
  const next: AppendState = {
    ...state,
    upload,
    seq: state.seq + 1,
    tailBytes: rest.length,
    bytes: state.bytes + added,
  }
  if (rest.length > 0) await bucket.put(tailKey(next, next.seq), rest)
  // The tail this step read stays: a rerun of this step needs it. Older ones are done with.
  if (state.seq > 0) await bucket.delete(tailKey(state, state.seq - 1))
  return next
}

/**
 * Appends `last` and completes the object; removes the tails. Call it in a step of its own: a
 * rerun finds the object complete (by its size) and does nothing.
 */
export async function finishAppend(
  bucket: R2Bucket,
  state: AppendState,
  last: Uint8Array = new Uint8Array(0),
): Promise<void> {
  const expected = state.bytes + last.length
  const done = await bucket.head(state.upload.key)
  if (done?.size === expected) return

  if (expected === 0) {
    // R2 cannot complete an upload without parts: an empty object is a plain put.
    await abortUpload(bucket, state.upload)
    await bucket.put(state.upload.key, new Uint8Array(0))
  } else {
    const pending = concat([await readTail(bucket, state), last])
    let upload = state.upload
    for (let at = 0; at < pending.length; at += APPEND_PART_BYTES) {
      const part = pending.subarray(at, Math.min(pending.length, at + APPEND_PART_BYTES))
      upload = await uploadPart(bucket, upload, upload.parts.length + 1, part)
    }
    await completeUpload(bucket, upload, expected)
  }
  await bucket.delete([tailKey(state, state.seq), tailKey(state, Math.max(0, state.seq - 1))])
}

/** Abandons an appended object: aborts its upload and removes its tails. */
export async function abandonAppend(bucket: R2Bucket, state: AppendState | undefined) {
  if (!state) return
  await abortUpload(bucket, state.upload)
  await bucket.delete([tailKey(state, state.seq), tailKey(state, Math.max(0, state.seq - 1))])
}
