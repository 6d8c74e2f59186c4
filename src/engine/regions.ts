/**
 * Regions pool the statistics of neighbouring blocks for data no trace has shown often
 * enough: scattered reads of a big archive, or of a folder of many small files. A region
 * never mixes a big file with another file, so one file's pattern cannot pull in another.
 * - a file of at least SMALL_FILE_BYTES: its own regions of up to REGION_BYTES each;
 * - smaller files: packed in tar order (so, mostly by folder) into regions of up to
 *   REGION_BYTES.
 */
import type { BuildModel } from './build-model'

/** Bytes of build pooled into one region at most. */
export const REGION_BYTES = 256 * 1024 * 1024
/** Files from this size get regions of their own. */
export const SMALL_FILE_BYTES = 16 * 1024 * 1024

/** Which region each block belongs to. */
export interface RegionLayout {
  regionOfBlock: Uint32Array
  regionCount: number
}

const layouts = new WeakMap<BuildModel, RegionLayout>()

/**
 * The region layout of a build (computed once per model).
 *
 * @example regionLayout(model).regionOfBlock[block]
 */
export function regionLayout(model: BuildModel): RegionLayout {
  const cached = layouts.get(model)
  if (cached) return cached
  const regionBlocks = Math.max(1, Math.floor(REGION_BYTES / model.blockSize))
  const regionOfBlock = new Uint32Array(model.blockCount)
  let region = -1
  let sharedBlocks = regionBlocks // blocks in the current shared region; full forces a new one

  for (const file of model.files) {
    if (file.blockCount === 0) continue
    if (file.size >= SMALL_FILE_BYTES) {
      for (let i = 0; i < file.blockCount; i++) {
        if (i % regionBlocks === 0) region++
        regionOfBlock[file.firstBlock + i] = region
      }
      sharedBlocks = regionBlocks
      continue
    }
    if (sharedBlocks + file.blockCount > regionBlocks) {
      region++
      sharedBlocks = 0
    }
    regionOfBlock.fill(region, file.firstBlock, file.firstBlock + file.blockCount)
    sharedBlocks += file.blockCount
  }
  const layout = { regionOfBlock, regionCount: region + 1 }
  layouts.set(model, layout)
  return layout
}
