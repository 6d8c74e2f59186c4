/**
 * Where blocks sit in an image's block data. An order maps image slot -> block index; slots
 * are packed back to back, so a slot's byte offset is the sum of the lengths before it.
 * Offsets are float64: a 100 GB image does not fit in 32 bits, and doubles are exact to 2^53.
 */
import { type BuildModel, blockLengths } from './build-model'

/**
 * Byte offset of every slot in the image's block data, plus the total size at index
 * `order.length`.
 *
 * @example slotOffsets(model, nativeOrder(model))[model.blockCount] // the build's size in bytes
 */
export function slotOffsets(model: BuildModel, order: Uint32Array): Float64Array {
  assertPermutation(order, model.blockCount)
  const lengths = blockLengths(model)
  const offsets = new Float64Array(order.length + 1)
  let offset = 0
  for (let slot = 0; slot < order.length; slot++) {
    offsets[slot] = offset
    offset += lengths[order[slot]]
  }
  offsets[order.length] = offset
  return offsets
}

/**
 * For each block, the offset just past its last byte in the image: how much of the image a
 * launcher must have before it can serve that block.
 */
export function blockEnds(model: BuildModel, order: Uint32Array): Float64Array {
  assertPermutation(order, model.blockCount)
  const lengths = blockLengths(model)
  const ends = new Float64Array(model.blockCount)
  let offset = 0
  for (let slot = 0; slot < order.length; slot++) {
    const block = order[slot]
    offset += lengths[block]
    ends[block] = offset
  }
  return ends
}

/** A range of image slots, both ends included. */
export interface SlotRange {
  first: number
  last: number
}

/**
 * The slots holding image bytes `imageOffset .. imageOffset + length - 1`, or undefined when
 * that range is not entirely inside the image. Read `order[slot]` for the blocks.
 */
export function imageOffsetToSlots(
  offsets: Float64Array,
  imageOffset: number,
  length: number,
): SlotRange | undefined {
  const size = offsets[offsets.length - 1]
  if (imageOffset < 0 || length < 1 || imageOffset + length > size) return undefined
  return { first: slotAt(offsets, imageOffset), last: slotAt(offsets, imageOffset + length - 1) }
}

/**
 * The blocks holding image bytes `imageOffset .. imageOffset + length - 1`, in image order,
 * or undefined when the range is not inside the image.
 */
export function imageOffsetToBlocks(
  order: Uint32Array,
  offsets: Float64Array,
  imageOffset: number,
  length: number,
): Uint32Array | undefined {
  const range = imageOffsetToSlots(offsets, imageOffset, length)
  return range && order.slice(range.first, range.last + 1)
}

/** The slot containing image byte `offset` (a zero-length slot is never chosen). */
function slotAt(offsets: Float64Array, offset: number): number {
  let low = 0
  let high = offsets.length - 2
  while (low < high) {
    const mid = (low + high + 1) >>> 1
    if (offsets[mid] <= offset) low = mid
    else high = mid - 1
  }
  return low
}

/** Throws unless `order` holds each of `0 .. blockCount - 1` exactly once. */
export function assertPermutation(order: Uint32Array, blockCount: number): void {
  if (order.length !== blockCount) {
    throw new RangeError(`order has ${order.length} slots for ${blockCount} blocks`)
  }
  const seen = new Uint8Array(blockCount)
  for (let slot = 0; slot < order.length; slot++) {
    const block = order[slot]
    if (block >= blockCount || seen[block]) {
      throw new RangeError(`order is not a permutation: block ${block} at slot ${slot}`)
    }
    seen[block] = 1
  }
}
