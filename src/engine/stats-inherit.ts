/**
 * Training carries across builds: each block of the new build takes the statistics of a
 * block of the old build with the same content (hash), preferring the one at the same path
 * and offset; failing that, of the block at the same path and offset (its content changed,
 * but the game most likely reads it the same way). So a new build's first image is ordered.
 */
import { BLOCK_HASH_BYTES, type BlockHashes, packedHashes } from './block-hash'
import {
  type BlockStats,
  emptyStats,
  emptyStatsIn,
  encodedStatsBytes,
  NEVER,
  STATS_HEADER_BYTES,
  statsLayout,
} from './block-stats'
import type { BuildModel } from './build-model'
import { modelIndex } from './build-model'
import { type BlockHashIndex, indexHashes } from './hash-index'
import { regionLayout } from './regions'
import { TIME_BINS } from './time-bins'

/** Block hashes by block index: hex strings, or packed 16 bytes per block. */
export type BlockHashList = BlockHashes

function packedFor(hashes: BlockHashList, blockCount: number, build: string): Uint8Array {
  const bytes = packedHashes(hashes)
  if (bytes.length !== blockCount * BLOCK_HASH_BYTES) {
    throw new RangeError(
      `${bytes.length / BLOCK_HASH_BYTES} hashes for ${blockCount} blocks of ${build}`,
    )
  }
  return bytes
}

/**
 * Finds, for each block of `newModel`, the block of `oldModel` whose statistics it inherits
 * (see the module comment), or -1. The new build's hashes arrive in block order, in chunks of
 * any size, so a Worker can stream them from storage: memory is the old hashes (16 bytes per
 * old block), their index (6) and the sources (4 per new block).
 *
 * @example
 * const matcher = new InheritanceMatcher(modelA, hashesA, modelB)
 * for (const chunk of chunksOfHashesB) matcher.push(chunk)
 * const sources = matcher.finish()
 */
export class InheritanceMatcher {
  private readonly oldHashes: Uint8Array
  private readonly index: BlockHashIndex
  private readonly sources: Int32Array
  /** Per new file: the old file at the same path (first block, block count), or -1. */
  private readonly oldFirst: Int32Array
  private readonly oldCount: Uint32Array
  private readonly fileOfBlock: Uint32Array
  private readonly pending = new Uint8Array(BLOCK_HASH_BYTES)
  private pendingBytes = 0
  private next = 0

  constructor(
    oldModel: BuildModel,
    oldHashes: BlockHashList,
    private readonly newModel: BuildModel,
  ) {
    this.oldHashes = packedFor(oldHashes, oldModel.blockCount, 'the old build')
    this.index = indexHashes(this.oldHashes)
    this.sources = new Int32Array(newModel.blockCount).fill(-1)
    this.fileOfBlock = modelIndex(newModel).fileOfBlock
    const oldFiles = modelIndex(oldModel).fileByPath
    this.oldFirst = new Int32Array(newModel.files.length).fill(-1)
    this.oldCount = new Uint32Array(newModel.files.length)
    newModel.files.forEach((file, i) => {
      const old = oldFiles.get(file.path)
      if (old === undefined) return
      this.oldFirst[i] = oldModel.files[old].firstBlock
      this.oldCount[i] = oldModel.files[old].blockCount
    })
  }

  /** Takes the next bytes of the new build's packed hashes; a hash may span two chunks. */
  push(bytes: Uint8Array): void {
    let at = 0
    if (this.pendingBytes > 0) {
      const take = Math.min(bytes.length, BLOCK_HASH_BYTES - this.pendingBytes)
      this.pending.set(bytes.subarray(0, take), this.pendingBytes)
      this.pendingBytes += take
      at = take
      if (this.pendingBytes < BLOCK_HASH_BYTES) return
      this.match(this.pending, 0)
      this.pendingBytes = 0
    }
    for (; at + BLOCK_HASH_BYTES <= bytes.length; at += BLOCK_HASH_BYTES) this.match(bytes, at)
    this.pending.set(bytes.subarray(at), 0)
    this.pendingBytes = bytes.length - at
  }

  /** The old block each new block inherits from, or -1; throws unless every hash arrived. */
  finish(): Int32Array {
    if (this.next !== this.newModel.blockCount || this.pendingBytes !== 0) {
      const got = this.next * BLOCK_HASH_BYTES + this.pendingBytes
      throw new RangeError(
        `${got} hash bytes for ${this.newModel.blockCount} blocks of the new build`,
      )
    }
    return this.sources
  }

  private match(bytes: Uint8Array, at: number): void {
    const block = this.next++
    if (block >= this.newModel.blockCount) {
      throw new RangeError(
        `more hashes than the ${this.newModel.blockCount} blocks of the new build`,
      )
    }
    const file = this.fileOfBlock[block]
    const offset = block - this.newModel.files[file].firstBlock
    const samePlace = offset < this.oldCount[file] ? this.oldFirst[file] + offset : -1
    if (samePlace !== -1 && equalAt(this.oldHashes, samePlace * BLOCK_HASH_BYTES, bytes, at)) {
      this.sources[block] = samePlace
      return
    }
    const source = this.index.find(bytes, at)
    this.sources[block] = source !== -1 ? source : samePlace
  }
}

function equalAt(a: Uint8Array, atA: number, b: Uint8Array, atB: number): boolean {
  for (let i = 0; i < BLOCK_HASH_BYTES; i++) if (a[atA + i] !== b[atB + i]) return false
  return true
}

/**
 * For each block of `newModel`, the block of `oldModel` whose statistics it inherits, or -1:
 * {@link InheritanceMatcher} with all new hashes at once.
 *
 * @example const sources = inheritanceSources(modelA, hashesA, modelB, hashesB)
 */
export function inheritanceSources(
  oldModel: BuildModel,
  oldHashes: BlockHashList,
  newModel: BuildModel,
  newHashes: BlockHashList,
): Int32Array {
  const matcher = new InheritanceMatcher(oldModel, oldHashes, newModel)
  matcher.push(packedFor(newHashes, newModel.blockCount, 'the new build'))
  return matcher.finish()
}

/**
 * Statistics for `newModel` taken from `oldStats` of `oldModel` by `sources` (from
 * {@link inheritanceSources}). Trace counts and trace time carry over; blocks without a source
 * start empty; a region takes the region statistics of the old region of its first block
 * with a source.
 */
export function inheritStatsFrom(
  oldModel: BuildModel,
  oldStats: BlockStats,
  newModel: BuildModel,
  sources: Int32Array,
): BlockStats {
  if (oldStats.blockCount !== oldModel.blockCount) {
    throw new RangeError('old statistics were made for another build')
  }
  if (sources.length !== newModel.blockCount) {
    throw new RangeError(`${sources.length} sources for ${newModel.blockCount} blocks`)
  }
  const oldRegions = regionLayout(oldModel).regionOfBlock
  const newRegions = regionLayout(newModel).regionOfBlock
  const stats = emptyStats(newModel)
  stats.nTraces = oldStats.nTraces
  stats.traceTimeMs = oldStats.traceTimeMs
  const regionSource = new Int32Array(stats.regionCount).fill(-1)
  for (let block = 0; block < sources.length; block++) {
    const from = sources[block]
    if (from === -1) continue
    if (!(from < oldStats.blockCount)) throw new RangeError(`no block ${from} in the old build`)
    copyBlock(oldStats, from, stats, block)
    const region = newRegions[block]
    if (regionSource[region] === -1) regionSource[region] = oldRegions[from]
  }
  regionSource.forEach((oldRegion, region) => {
    if (oldRegion === -1) return
    const from = oldRegion * TIME_BINS
    stats.regionRare.set(oldStats.regionRare.subarray(from, from + TIME_BINS), region * TIME_BINS)
  })
  return stats
}

/** Reads `length` bytes from byte `offset` of the old build's encoded statistics. */
export type StatsReader = (offset: number, length: number) => Promise<Uint8Array>

/** Old blocks whose statistics one slice reads: 6 MB of sections at 24 bytes per block. */
export const INHERIT_SLICE_BLOCKS = 1 << 18

/** Where {@link inheritEncodedStats} builds the new statistics, and how much it reads at once. */
export interface InheritEncodedOptions {
  /** Bytes to build the new statistics in (4-byte aligned); too short, and new ones are made. */
  into?: Uint8Array
  sliceBlocks?: number
}

/**
 * {@link inheritStatsFrom} on statistics that stay in storage: the old build's encoded
 * statistics are read a slice of blocks at a time (each section's part for those blocks)
 * through `readOld`, and the new statistics are built in their encoded form (in `into` when it
 * is large enough), so `encodedInPlace` stores them without a copy. Memory past the sources:
 * the new statistics (24 bytes per new block) and one slice of the old ones.
 *
 * @example const stats = await inheritEncodedStats(modelA, (at, n) => rangeOf(key, at, n), modelB, sources)
 */
export async function inheritEncodedStats(
  oldModel: BuildModel,
  readOld: StatsReader,
  newModel: BuildModel,
  sources: Int32Array,
  options: InheritEncodedOptions = {},
): Promise<BlockStats> {
  const read = async (offset: number, length: number) => {
    const bytes = await readOld(offset, length)
    if (bytes.length !== length) {
      throw new RangeError(`old statistics: ${bytes.length} bytes at ${offset}, not ${length}`)
    }
    return bytes
  }
  const old = statsLayout(await read(0, STATS_HEADER_BYTES))
  if (old.blockCount !== oldModel.blockCount) {
    throw new RangeError('old statistics were made for another build')
  }
  if (sources.length !== newModel.blockCount) {
    throw new RangeError(`${sources.length} sources for ${newModel.blockCount} blocks`)
  }
  const sliceBlocks = options.sliceBlocks ?? INHERIT_SLICE_BLOCKS
  if (!(Number.isInteger(sliceBlocks) && sliceBlocks > 0)) {
    throw new RangeError(`slices of ${sliceBlocks} blocks`)
  }
  const { into } = options
  const size = encodedStatsBytes(newModel.blockCount, regionLayout(newModel).regionCount)
  const room = into && into.byteOffset % 4 === 0 && into.length >= size
  const stats = emptyStatsIn(room ? into : new Uint8Array(size), newModel)
  stats.nTraces = old.nTraces
  stats.traceTimeMs = old.traceTimeMs

  const oldRegions = regionLayout(oldModel).regionOfBlock
  const newRegions = regionLayout(newModel).regionOfBlock
  const regionSource = new Int32Array(stats.regionCount).fill(-1)
  const sliceUsed = new Uint8Array(Math.ceil(old.blockCount / sliceBlocks))
  for (let block = 0; block < sources.length; block++) {
    const from = sources[block]
    if (from === -1) continue
    if (!(from >= 0 && from < old.blockCount)) {
      throw new RangeError(`no block ${from} in the old build`)
    }
    sliceUsed[Math.floor(from / sliceBlocks)] = 1
    const region = newRegions[block]
    if (regionSource[region] === -1) regionSource[region] = oldRegions[from]
  }

  for (let slice = 0; slice < sliceUsed.length; slice++) {
    if (!sliceUsed[slice]) continue
    const low = slice * sliceBlocks
    const n = Math.min(old.blockCount, low + sliceBlocks) - low
    const [count, earliest, latest, bins] = await Promise.all([
      read(old.count + 4 * low, 4 * n).then(words),
      read(old.earliestMs + 4 * low, 4 * n).then(words),
      read(old.latestMs + 4 * low, 4 * n).then(words),
      read(old.timeBins + TIME_BINS * low, TIME_BINS * n),
    ])
    for (let block = 0; block < sources.length; block++) {
      const k = sources[block] - low
      if (!(k >= 0 && k < n)) continue
      stats.count[block] = count[k]
      stats.earliestMs[block] = count[k] > 0 ? earliest[k] : NEVER
      stats.latestMs[block] = latest[k]
      for (let bin = 0, to = block * TIME_BINS, from = k * TIME_BINS; bin < TIME_BINS; bin++) {
        stats.timeBins[to + bin] = bins[from + bin]
      }
    }
  }

  if (regionSource.some((region) => region !== -1)) {
    const rare = words(await read(old.regionRare, 4 * old.regionCount * TIME_BINS))
    regionSource.forEach((oldRegion, region) => {
      // A region the old statistics lack starts empty, as in inheritStatsFrom.
      if (oldRegion === -1 || oldRegion >= old.regionCount) return
      const from = oldRegion * TIME_BINS
      stats.regionRare.set(rare.subarray(from, from + TIME_BINS), region * TIME_BINS)
    })
  }
  return stats
}

/** Little-endian u32s of `bytes`, a view when aligned (a fresh R2 body is). */
function words(bytes: Uint8Array): Uint32Array {
  const source = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice()
  return new Uint32Array(source.buffer, source.byteOffset, source.length / 4)
}

/**
 * Statistics for `newModel`, inherited from `oldStats` of `oldModel` block by block (see the
 * module comment): {@link inheritanceSources}, then {@link inheritStatsFrom}. A Worker that
 * loads hashes and statistics from storage calls the two in turn instead, so both builds'
 * hashes are gone before the statistics arrive.
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
  const sources = inheritanceSources(oldModel, oldHashes, newModel, newHashes)
  return inheritStatsFrom(oldModel, oldStats, newModel, sources)
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
