/**
 * An app's training statistics, updated by one trace at a time so processing never loads all
 * traces at once. Per block: how many traces touched it, the earliest first access, and the
 * shape of its first-access times over doubling time bins (see docs/training.md for why).
 * Per region (see regions.ts): when traces first touched data that was rare at the time,
 * which stands in for reads a new session will make of blocks no trace has shown yet.
 *
 * Memory: 24 bytes per block (count 4, earliest 4, latest 4, 12 one-byte bins) plus 48 bytes
 * per region: 38.4 MB for 1.6 M blocks, whatever the number of traces.
 */
import type { BuildModel } from './build-model'
import { blockLengths } from './build-model'
import { regionLayout } from './regions'
import { TIME_BINS, timeBin } from './time-bins'
import type { FirstAccess } from './trace-types'

/** Share of sessions that must need a block before its own statistics place it (see order). */
export const NEED_SHARE = 0.1
/** `earliestMs` of a block no trace touched. */
export const NEVER = 0xffffffff

/** Per-block and per-region training statistics of one build. */
export interface BlockStats {
  blockCount: number
  /** Regions of the build (see regions.ts). */
  regionCount: number
  /** Traces added. */
  nTraces: number
  /** Sum of the traces' durationMs. */
  traceTimeMs: number
  /** Traces that touched each block. */
  count: Uint32Array
  /** Earliest first access of each block over all traces, ms; {@link NEVER} if untouched. */
  earliestMs: Uint32Array
  /** Latest first access of each block over all traces, ms; 0 if untouched. */
  latestMs: Uint32Array
  /** TIME_BINS per block: first accesses per time bin, all halved when one would pass 255. */
  timeBins: Uint8Array
  /** TIME_BINS per region: traces by the time they first touched data rare at that time. */
  regionRare: Uint32Array
}

/** Statistics with no trace yet, sized for `model`. */
export function emptyStats(model: BuildModel): BlockStats {
  const { regionCount } = regionLayout(model)
  return {
    blockCount: model.blockCount,
    regionCount,
    nTraces: 0,
    traceTimeMs: 0,
    count: new Uint32Array(model.blockCount),
    earliestMs: new Uint32Array(model.blockCount).fill(NEVER),
    latestMs: new Uint32Array(model.blockCount),
    timeBins: new Uint8Array(model.blockCount * TIME_BINS),
    regionRare: new Uint32Array(regionCount * TIME_BINS),
  }
}

function countInBin(bins: Uint8Array, block: number, bin: number): void {
  const at = block * TIME_BINS
  if (bins[at + bin] === 255) {
    // Halving keeps the shape (what the order reads) and a non-empty bin stays non-empty.
    for (let i = at; i < at + TIME_BINS; i++) bins[i] = (bins[i] + 1) >> 1
  }
  bins[at + bin]++
}

/**
 * Adds one accepted trace of `model`'s build. A block counts as rare when fewer than
 * {@link NEED_SHARE} of the traces before this one touched it.
 *
 * @example addTrace(stats, model, parsed.firstAccess, parsed.durationMs)
 */
export function addTrace(
  stats: BlockStats,
  model: BuildModel,
  trace: FirstAccess,
  durationMs: number,
): void {
  const { regionOfBlock, regionCount } = regionLayout(model)
  if (stats.blockCount !== model.blockCount || stats.regionCount !== regionCount) {
    throw new RangeError('statistics were made for another build')
  }
  const { blocks, tMs } = trace
  const rareBelow = NEED_SHARE * stats.nTraces
  const firstRare = new Map<number, number>()
  for (let i = 0; i < blocks.length; i++) {
    const block = blocks[i]
    const t = tMs[i]
    if (block >= stats.blockCount) throw new RangeError(`block ${block} is not in the build`)
    if (stats.count[block] < rareBelow || stats.count[block] === 0) {
      const region = regionOfBlock[block]
      if (!firstRare.has(region)) firstRare.set(region, t)
    }
    stats.count[block]++
    if (t < stats.earliestMs[block]) stats.earliestMs[block] = t
    if (t > stats.latestMs[block]) stats.latestMs[block] = t
    countInBin(stats.timeBins, block, timeBin(t))
  }
  // The first trace finds everything new; it says nothing about what is rare.
  if (stats.nTraces > 0) {
    for (const [region, t] of firstRare) stats.regionRare[region * TIME_BINS + timeBin(t)]++
  }
  stats.nTraces++
  stats.traceTimeMs += durationMs
}

/**
 * Coverage: bytes of the build in blocks touched by at least one trace, divided by the
 * build's size (0 for an empty build).
 */
export function coverage(model: BuildModel, stats: BlockStats): number {
  const lengths = blockLengths(model)
  let touched = 0
  let total = 0
  for (let block = 0; block < lengths.length; block++) {
    total += lengths[block]
    if (stats.count[block] > 0) touched += lengths[block]
  }
  return total === 0 ? 0 : touched / total
}

const MAGIC = 0x53424b52 // 'RKBS' read as little-endian
const VERSION = 1
/** Bytes of the header of encoded statistics, before their sections. */
export const STATS_HEADER_BYTES = 40

/**
 * Encoded statistics as their header describes them: the figures, and the byte offset of each
 * section, so a reader can fetch one section, or a slice of one, at a time.
 */
export interface StatsLayout {
  blockCount: number
  regionCount: number
  nTraces: number
  traceTimeMs: number
  /** Byte offsets of the sections: u32 per block, u32 per block, u32 per block, ... */
  count: number
  earliestMs: number
  latestMs: number
  /** ... TIME_BINS u32 per region, TIME_BINS bytes per block. */
  regionRare: number
  timeBins: number
  /** Bytes of the whole encoding. */
  totalBytes: number
}

function sectionsOf(blockCount: number, regionCount: number) {
  const count = STATS_HEADER_BYTES
  const earliestMs = count + 4 * blockCount
  const latestMs = earliestMs + 4 * blockCount
  const regionRare = latestMs + 4 * blockCount
  const timeBins = regionRare + 4 * regionCount * TIME_BINS
  return {
    count,
    earliestMs,
    latestMs,
    regionRare,
    timeBins,
    totalBytes: timeBins + blockCount * TIME_BINS,
  }
}

/** Bytes of the encoding of statistics of `blockCount` blocks in `regionCount` regions. */
export function encodedStatsBytes(blockCount: number, regionCount: number): number {
  return sectionsOf(blockCount, regionCount).totalBytes
}

/** Reads the layout from the first {@link STATS_HEADER_BYTES} bytes of encoded statistics. */
export function statsLayout(head: Uint8Array): StatsLayout {
  const corrupt = (why: string) => new RangeError(`not block statistics: ${why}`)
  if (head.length < STATS_HEADER_BYTES) throw corrupt('too short')
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength)
  if (view.getUint32(0, true) !== MAGIC) throw corrupt('magic')
  if (view.getUint32(4, true) !== VERSION) throw corrupt(`version ${view.getUint32(4, true)}`)
  if (view.getUint32(16, true) !== TIME_BINS) throw corrupt('time bins')
  const blockCount = view.getUint32(8, true)
  const regionCount = view.getUint32(12, true)
  return {
    blockCount,
    regionCount,
    nTraces: view.getFloat64(24, true),
    traceTimeMs: view.getFloat64(32, true),
    ...sectionsOf(blockCount, regionCount),
  }
}

function writeStatsHeader(bytes: Uint8Array, stats: BlockStats): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, STATS_HEADER_BYTES)
  view.setUint32(0, MAGIC, true)
  view.setUint32(4, VERSION, true)
  view.setUint32(8, stats.blockCount, true)
  view.setUint32(12, stats.regionCount, true)
  view.setUint32(16, TIME_BINS, true)
  view.setUint32(20, 0, true)
  view.setFloat64(24, stats.nTraces, true)
  view.setFloat64(32, stats.traceTimeMs, true)
}

/** Statistics whose arrays are views into `bytes` laid out as {@link encodeStats} writes. */
function statsOver(bytes: Uint8Array, layout: Omit<StatsLayout, 'totalBytes'>): BlockStats {
  const { buffer, byteOffset } = bytes
  const n = layout.blockCount
  const u32 = (at: number, length: number) => new Uint32Array(buffer, byteOffset + at, length)
  return {
    blockCount: n,
    regionCount: layout.regionCount,
    nTraces: layout.nTraces,
    traceTimeMs: layout.traceTimeMs,
    count: u32(layout.count, n),
    earliestMs: u32(layout.earliestMs, n),
    latestMs: u32(layout.latestMs, n),
    regionRare: u32(layout.regionRare, layout.regionCount * TIME_BINS),
    timeBins: new Uint8Array(buffer, byteOffset + layout.timeBins, n * TIME_BINS),
  }
}

/**
 * Statistics with no trace yet for `model`, built in their encoded form at the start of
 * `bytes` (4-byte aligned, at least {@link encodedStatsBytes} long; whatever it held is
 * overwritten): {@link encodedInPlace} then answers the encoding without a copy.
 */
export function emptyStatsIn(bytes: Uint8Array, model: BuildModel): BlockStats {
  const { regionCount } = regionLayout(model)
  const sections = sectionsOf(model.blockCount, regionCount)
  if (bytes.byteOffset % 4 !== 0) throw new RangeError('statistics need 4-byte aligned bytes')
  if (bytes.length < sections.totalBytes) {
    throw new RangeError(`${sections.totalBytes} bytes of statistics do not fit in ${bytes.length}`)
  }
  const stats = statsOver(bytes, {
    blockCount: model.blockCount,
    regionCount,
    nTraces: 0,
    traceTimeMs: 0,
    ...sections,
  })
  writeStatsHeader(bytes, stats)
  bytes.fill(0, sections.count, sections.totalBytes)
  stats.earliestMs.fill(NEVER)
  return stats
}

/**
 * The encoding of `stats` without a copy, when their arrays lie in one buffer as
 * {@link encodeStats} lays them out (made by {@link emptyStatsIn}, or decoded from an aligned
 * blob): the header is brought up to date and the bytes returned share the arrays' memory.
 * Null otherwise.
 */
export function encodedInPlace(stats: BlockStats): Uint8Array | null {
  const { buffer } = stats.count
  const start = stats.count.byteOffset - STATS_HEADER_BYTES
  if (start < 0) return null
  const sections = sectionsOf(stats.blockCount, stats.regionCount)
  const arrays = [
    [stats.count, sections.count, 4 * stats.blockCount],
    [stats.earliestMs, sections.earliestMs, 4 * stats.blockCount],
    [stats.latestMs, sections.latestMs, 4 * stats.blockCount],
    [stats.regionRare, sections.regionRare, 4 * stats.regionCount * TIME_BINS],
    [stats.timeBins, sections.timeBins, stats.blockCount * TIME_BINS],
  ] as const
  for (const [array, at, length] of arrays) {
    if (array.buffer !== buffer || array.byteOffset !== start + at || array.byteLength !== length) {
      return null
    }
  }
  if (start + sections.totalBytes > buffer.byteLength) return null
  const bytes = new Uint8Array(buffer, start, sections.totalBytes)
  writeStatsHeader(bytes, stats)
  return bytes
}

/**
 * Encodes statistics as one little-endian blob: a 40-byte header (magic, version, block
 * count, region count, bins, traces, trace time), then count, earliest, latest, region rare
 * counts and the time bins. Typed arrays are copied as they are in memory: little-endian on
 * every platform Workers and Node run on.
 */
export function encodeStats(stats: BlockStats): Uint8Array {
  const bytes = new Uint8Array(encodedStatsBytes(stats.blockCount, stats.regionCount))
  writeStatsHeader(bytes, stats)
  let at = STATS_HEADER_BYTES
  const arrays = [stats.count, stats.earliestMs, stats.latestMs, stats.regionRare, stats.timeBins]
  for (const array of arrays) {
    bytes.set(new Uint8Array(array.buffer, array.byteOffset, array.byteLength), at)
    at += array.byteLength
  }
  return bytes
}

/**
 * Decodes {@link encodeStats}; throws a RangeError on anything else. The per-block arrays
 * share `bytes`' memory when it is 4-byte aligned (as a fresh R2 body is): adding a trace
 * changes them in `bytes` too, so encode again before storing.
 */
export function decodeStats(bytes: Uint8Array): BlockStats {
  const layout = statsLayout(bytes)
  if (bytes.length !== layout.totalBytes) throw new RangeError('not block statistics: length')
  // Views save a copy of up to 40 MB inside a Worker; an unaligned blob has to be copied.
  return statsOver(bytes.byteOffset % 4 === 0 ? bytes : bytes.slice(), layout)
}
