/**
 * The measure of an order: the smallest preload that lets a session play without a stall.
 * A launcher streams the image from the front at B bytes/s and the session starts once P
 * bytes are in. Read i, at time t_i, needs the image up to D_i, the furthest block end of
 * reads 1..i; it does not stall when P + B * t_i >= D_i. So P* = max(0, max_i(D_i - B * t_i))
 * and the time to play is P* / B. Blocks read again later never raise D, so first accesses
 * are enough.
 */
import { type BuildModel, modelIndex } from './build-model'
import { blockEnds } from './image-layout'
import type { FirstAccess } from './trace-types'

/** Bytes per second in one Mbit/s. */
export const BYTES_PER_MBIT = 125_000

/**
 * P* for several bandwidths (bytes/s) in one pass; `reachAfter(i, reach)` says how far into
 * the image the data of first accesses 0..i reaches, given the reach before access i.
 */
function preloadOver(
  trace: FirstAccess,
  bandwidths: readonly number[],
  reachAfter: (i: number, reach: number) => number,
): Float64Array {
  const preload = new Float64Array(bandwidths.length)
  let reach = 0
  for (let i = 0; i < trace.blocks.length; i++) {
    const next = reachAfter(i, reach)
    // Only a new maximum can set a new worst case: later times only lower D - B * t.
    if (next <= reach) continue
    reach = next
    const seconds = trace.tMs[i] / 1000
    for (let b = 0; b < bandwidths.length; b++) {
      const shortfall = reach - bandwidths[b] * seconds
      if (shortfall > preload[b]) preload[b] = shortfall
    }
  }
  return preload
}

/**
 * P* of one trace for several bandwidths (bytes/s), given where each block ends in the image
 * (see `blockEnds`). One result in bytes per bandwidth.
 */
export function preloadFromEnds(
  ends: Float64Array,
  trace: FirstAccess,
  bandwidths: readonly number[],
): Float64Array {
  return preloadOver(trace, bandwidths, (i, reach) => Math.max(reach, ends[trace.blocks[i]]))
}

/**
 * P* in bytes of `trace` on an image in `order` at `bandwidth` bytes/s.
 *
 * @example preloadBytes(model, nativeOrder(model), trace, 100 * BYTES_PER_MBIT)
 */
export function preloadBytes(
  model: BuildModel,
  order: Uint32Array,
  trace: FirstAccess,
  bandwidth: number,
): number {
  return preloadFromEnds(blockEnds(model, order), trace, [bandwidth])[0]
}

/**
 * P* of a trace on its own ideal image (its blocks in first-access order, the rest after):
 * the lower bound no order can beat for that trace. `lengths` from `blockLengths(model)`.
 */
export function idealPreload(
  lengths: Uint32Array,
  trace: FirstAccess,
  bandwidths: readonly number[],
): Float64Array {
  return preloadOver(trace, bandwidths, (i, reach) => reach + lengths[trace.blocks[i]])
}

/**
 * P* of a trace on the native image (blocks in tar order) without building the order: a
 * block ends where its file starts, plus its offset in the file, plus its length.
 */
export function nativePreload(
  model: BuildModel,
  trace: FirstAccess,
  bandwidths: readonly number[],
): Float64Array {
  const { fileOfBlock } = modelIndex(model)
  const fileOffsets = nativeFileOffsets(model)
  return preloadOver(trace, bandwidths, (i, reach) => {
    const block = trace.blocks[i]
    const file = model.files[fileOfBlock[block]]
    const inFile = Math.min((block - file.firstBlock + 1) * model.blockSize, file.size)
    return Math.max(reach, fileOffsets[fileOfBlock[block]] + inFile)
  })
}

const fileOffsetsByModel = new WeakMap<BuildModel, Float64Array>()

function nativeFileOffsets(model: BuildModel): Float64Array {
  let offsets = fileOffsetsByModel.get(model)
  if (!offsets) {
    offsets = new Float64Array(model.files.length)
    let offset = 0
    for (let i = 0; i < model.files.length; i++) {
      offsets[i] = offset
      offset += model.files[i].size
    }
    fileOffsetsByModel.set(model, offsets)
  }
  return offsets
}
