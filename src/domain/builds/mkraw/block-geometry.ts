/**
 * Where each block of a build sits in its tar. Written once per build as a compact binary (24
 * bytes per regular file) so every image and patch step can map blocks to tar ranges without
 * parsing the whole file table again.
 */
import type { ScannedFile } from '../../../engine/tar-scan'

const RECORD_BYTES = 24

/** Per block: its offset in the tar and its length in bytes. */
export interface BlockGeometry {
  tarOffset: Float64Array
  length: Uint32Array
  blockSize: number
}

/** Encodes the regular files of `files`: first block, block count, size, tar data offset. */
export function encodeGeometry(files: readonly ScannedFile[]): Uint8Array {
  const regular = files.filter((file) => file.kind === 'file' && file.blockCount > 0)
  const bytes = new Uint8Array(regular.length * RECORD_BYTES)
  const view = new DataView(bytes.buffer)
  regular.forEach((file, i) => {
    const at = i * RECORD_BYTES
    view.setUint32(at, file.firstBlock, true)
    view.setUint32(at + 4, file.blockCount, true)
    view.setFloat64(at + 8, file.size, true)
    view.setFloat64(at + 16, file.tarDataOffset, true)
  })
  return bytes
}

/** Decodes {@link encodeGeometry} into per-block arrays for `blockCount` blocks. */
export function decodeGeometry(
  bytes: Uint8Array,
  blockSize: number,
  blockCount: number,
): BlockGeometry {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const tarOffset = new Float64Array(blockCount)
  const length = new Uint32Array(blockCount)
  for (let at = 0; at < bytes.length; at += RECORD_BYTES) {
    const first = view.getUint32(at, true)
    const count = view.getUint32(at + 4, true)
    const size = view.getFloat64(at + 8, true)
    const dataOffset = view.getFloat64(at + 16, true)
    for (let k = 0; k < count; k++) {
      tarOffset[first + k] = dataOffset + k * blockSize
      length[first + k] = Math.min(blockSize, size - k * blockSize)
    }
  }
  return { tarOffset, length, blockSize }
}

/** A list of block indices as little-endian u32 bytes (an image's order, a patch's blocks). */
export function encodeBlockList(list: ArrayLike<number>): Uint8Array {
  const bytes = new Uint8Array(list.length * 4)
  const view = new DataView(bytes.buffer)
  for (let i = 0; i < list.length; i++) view.setUint32(i * 4, list[i], true)
  return bytes
}

/** Decodes {@link encodeBlockList}. */
export function decodeBlockList(bytes: Uint8Array): Uint32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const list = new Uint32Array(bytes.length / 4)
  for (let i = 0; i < list.length; i++) list[i] = view.getUint32(i * 4, true)
  return list
}
