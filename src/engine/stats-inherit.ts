/**
 * Training carries across builds: each block of the new build takes the statistics of a
 * block of the old build with the same content (hash), preferring the one at the same path
 * and offset; failing that, of the block at the same path and offset (its content changed,
 * but the game most likely reads it the same way). So a new build's first image is ordered.
 */
import { type BlockStats, emptyStats, NEVER } from './block-stats'
import type { BuildModel } from './build-model'
import { modelIndex } from './build-model'
import { regionLayout } from './regions'
import { TIME_BINS } from './time-bins'

/** Block hashes by block index: hex strings, or packed bytes of equal length per block. */
export type BlockHashList = readonly string[] | Uint8Array

/** Packs hashes to bytes; returns the bytes and the length of one hash. */
function packed(hashes: BlockHashList, blockCount: number): { bytes: Uint8Array; size: number } {
  if (hashes instanceof Uint8Array) {
    const size = blockCount === 0 ? 16 : hashes.length / blockCount
    if (!Number.isInteger(size) || size < 4) {
      throw new RangeError(`${hashes.length} hash bytes for ${blockCount} blocks`)
    }
    return { bytes: hashes, size }
  }
  if (hashes.length !== blockCount) {
    throw new RangeError(`${hashes.length} hashes for ${blockCount} blocks`)
  }
  const size = blockCount === 0 ? 16 : hashes[0].length / 2
  const bytes = new Uint8Array(blockCount * size)
  hashes.forEach((hex, block) => {
    if (hex.length !== size * 2) throw new RangeError(`hash of block ${block} has another length`)
    for (let i = 0; i < size; i++) {
      bytes[block * size + i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16)
    }
  })
  return { bytes, size }
}

/** Open-addressing table from hash to the first old block with it; SHA-256 bytes are uniform. */
class HashIndex {
  private readonly slots: Int32Array
  private readonly mask: number

  constructor(
    private readonly bytes: Uint8Array,
    private readonly size: number,
    blockCount: number,
  ) {
    let capacity = 16
    while (capacity < blockCount * 2) capacity *= 2
    this.slots = new Int32Array(capacity).fill(-1)
    this.mask = capacity - 1
    for (let block = 0; block < blockCount; block++) this.insert(block)
  }

  /** The first old block whose hash equals `other` at `at`, or -1. */
  find(other: Uint8Array, at: number): number {
    for (let slot = this.start(other, at); ; slot = (slot + 1) & this.mask) {
      const block = this.slots[slot]
      if (block === -1 || this.equal(block, other, at)) return block
    }
  }

  private insert(block: number): void {
    for (let slot = this.start(this.bytes, block * this.size); ; slot = (slot + 1) & this.mask) {
      const held = this.slots[slot]
      if (held === -1) {
        this.slots[slot] = block
        return
      }
      if (this.equal(held, this.bytes, block * this.size)) return
    }
  }

  private start(bytes: Uint8Array, at: number): number {
    return (
      (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) & this.mask
    )
  }

  private equal(block: number, other: Uint8Array, at: number): boolean {
    const from = block * this.size
    for (let i = 0; i < this.size; i++) if (this.bytes[from + i] !== other[at + i]) return false
    return true
  }
}

/**
 * Statistics for `newModel`, inherited from `oldStats` of `oldModel` block by block (see the
 * module comment). Trace counts and trace time carry over; blocks that match nothing start
 * empty.
 *
 * @example const stats = inheritStats(modelA, hashesA, statsA, modelB, hashesB)
 */
export function inheritStats(
  oldModel: BuildModel,
  oldHashes: BlockHashList,
  oldStats: BlockStats,
  newModel: BuildModel,
  newHashes: BlockHashList,
): BlockStats {
  if (oldStats.blockCount !== oldModel.blockCount) {
    throw new RangeError('old statistics were made for another build')
  }
  const oldPacked = packed(oldHashes, oldModel.blockCount)
  const newPacked = packed(newHashes, newModel.blockCount)
  if (oldPacked.size !== newPacked.size) throw new RangeError('hashes of different lengths')
  const index = new HashIndex(oldPacked.bytes, oldPacked.size, oldModel.blockCount)
  const oldFiles = modelIndex(oldModel).fileByPath
  const oldRegions = regionLayout(oldModel).regionOfBlock
  const newRegions = regionLayout(newModel).regionOfBlock

  const stats = emptyStats(newModel)
  stats.nTraces = oldStats.nTraces
  stats.traceTimeMs = oldStats.traceTimeMs
  const regionSource = new Int32Array(stats.regionCount).fill(-1)
  const size = newPacked.size

  for (const file of newModel.files) {
    const oldIndex = oldFiles.get(file.path)
    const oldFile = oldIndex === undefined ? undefined : oldModel.files[oldIndex]
    for (let i = 0; i < file.blockCount; i++) {
      const block = file.firstBlock + i
      const samePlace = oldFile && i < oldFile.blockCount ? oldFile.firstBlock + i : -1
      const sameContent =
        samePlace !== -1 && sameHash(oldPacked.bytes, samePlace, newPacked.bytes, block, size)
      const source = sameContent ? samePlace : index.find(newPacked.bytes, block * size)
      const from = source !== -1 ? source : samePlace
      if (from === -1) continue
      copyBlock(oldStats, from, stats, block)
      const region = newRegions[block]
      if (regionSource[region] === -1) regionSource[region] = oldRegions[from]
    }
  }
  regionSource.forEach((oldRegion, region) => {
    if (oldRegion === -1) return
    const from = oldRegion * TIME_BINS
    stats.regionRare.set(oldStats.regionRare.subarray(from, from + TIME_BINS), region * TIME_BINS)
  })
  return stats
}

function sameHash(a: Uint8Array, blockA: number, b: Uint8Array, blockB: number, size: number) {
  for (let i = 0; i < size; i++) if (a[blockA * size + i] !== b[blockB * size + i]) return false
  return true
}

function copyBlock(from: BlockStats, oldBlock: number, to: BlockStats, newBlock: number): void {
  to.count[newBlock] = from.count[oldBlock]
  to.earliestMs[newBlock] = from.count[oldBlock] > 0 ? from.earliestMs[oldBlock] : NEVER
  to.latestMs[newBlock] = from.latestMs[oldBlock]
  to.timeBins.set(
    from.timeBins.subarray(oldBlock * TIME_BINS, (oldBlock + 1) * TIME_BINS),
    newBlock * TIME_BINS,
  )
}
