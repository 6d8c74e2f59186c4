/**
 * Image orders: slot -> block permutations of a build. The service's order comes from the
 * aggregate statistics; the others are the references every report compares it with.
 *
 * The service's order gives each block a need time and sorts by it, equal times in block
 * order so that data read sequentially stays sequential (docs/training.md has the why):
 * - a block touched by at least NEED_SHARE of the traces: the time by which that share of
 *   all traces had touched it (a session that never touches it counts as never), so a block
 *   is early only when enough sessions need it early, and a few fast sessions cannot pull
 *   it in;
 * - any block of a touched file, traced or not, is also placed no later than the time by
 *   which REGION_SHARE of the traces had first read rare data of its region: scattered
 *   reads of a big archive keep hitting blocks no trace has shown yet, so such a region is
 *   needed as a whole;
 * - the remaining rare blocks after all that, by their earliest access; untouched blocks
 *   last, or first while too few traces exist to trust the order.
 */

import { type BlockStats, NEED_SHARE, NEVER } from './block-stats'
import { type BuildModel, modelIndex } from './build-model'
import { sortByKey } from './key-sort'
import { regionLayout } from './regions'
import { histogramTime, TIME_BINS } from './time-bins'
import type { FirstAccess } from './trace-types'

/** Options of {@link orderFromStats}. */
export interface OrderOptions {
  /** Where blocks no trace touched go: 'last' once traces are reliable, 'first' before. */
  untraced: 'first' | 'last'
}

/**
 * Share of traces that must have read rare data of a region before the whole region is
 * pulled forward; higher than NEED_SHARE because a region is big (up to 256 MiB).
 */
export const REGION_SHARE = 0.25
/** Keys from here on are rare blocks placed after every timed block. */
const RARE_TIER = 0x80000000
/** Key of blocks with no statistics at all. */
const UNTRACED_KEY = 0xffffffff

function clampMs(ms: number): number {
  return Math.min(RARE_TIER - 1, Math.round(ms))
}

/** Need time of each region's rare data, or undefined where too few traces read any. */
function regionNeedTimes(stats: BlockStats): Array<number | undefined> {
  const target = Math.max(1, REGION_SHARE * stats.nTraces)
  return Array.from({ length: stats.regionCount }, (_, region) =>
    histogramTime(stats.regionRare, region * TIME_BINS, 1, target),
  )
}

/** Need time of a block its own statistics can place, or undefined for a rare block. */
function blockNeedTime(stats: BlockStats, block: number): number | undefined {
  const count = stats.count[block]
  const target = Math.max(1, NEED_SHARE * stats.nTraces)
  if (count < target) return undefined
  const from = block * TIME_BINS
  let binned = 0
  for (let bin = 0; bin < TIME_BINS; bin++) binned += stats.timeBins[from + bin]
  const { earliestMs, latestMs } = stats
  return histogramTime(
    stats.timeBins,
    from,
    count / binned,
    target,
    earliestMs[block],
    latestMs[block],
  )
}

/**
 * The sort key of every block: its need time in ms, `0x80000000 + earliest ms` for a rare
 * block with no region time, `0xffffffff` for a block with no statistics.
 */
export function needKeys(model: BuildModel, stats: BlockStats): Uint32Array {
  if (stats.blockCount !== model.blockCount) {
    throw new RangeError(`statistics for ${stats.blockCount} blocks, build has ${model.blockCount}`)
  }
  const { fileOfBlock } = modelIndex(model)
  const { regionOfBlock } = regionLayout(model)
  const fileTouched = new Uint8Array(model.files.length)
  for (let block = 0; block < model.blockCount; block++) {
    if (stats.count[block] > 0) fileTouched[fileOfBlock[block]] = 1
  }
  const regionTimes = regionNeedTimes(stats)

  const keys = new Uint32Array(model.blockCount)
  for (let block = 0; block < model.blockCount; block++) {
    const count = stats.count[block]
    const own = count > 0 ? blockNeedTime(stats, block) : undefined
    const region = fileTouched[fileOfBlock[block]] ? regionTimes[regionOfBlock[block]] : undefined
    if (own !== undefined || region !== undefined) {
      keys[block] = clampMs(
        Math.min(own ?? Number.POSITIVE_INFINITY, region ?? Number.POSITIVE_INFINITY),
      )
    } else if (count > 0) {
      keys[block] = RARE_TIER + clampMs(stats.earliestMs[block])
    } else {
      keys[block] = UNTRACED_KEY
    }
  }
  return keys
}

/**
 * The service's order of all blocks from the aggregate statistics (see the module comment).
 *
 * @example const order = orderFromStats(model, stats, { untraced: 'last' })
 */
export function orderFromStats(
  model: BuildModel,
  stats: BlockStats,
  opts: OrderOptions,
): Uint32Array {
  const sorted = sortByKey(needKeys(model, stats))
  if (opts.untraced === 'last') return sorted

  const order = new Uint32Array(model.blockCount)
  let slot = 0
  for (let block = 0; block < model.blockCount; block++) {
    if (stats.count[block] === 0) order[slot++] = block
  }
  for (const block of sorted) if (stats.count[block] > 0) order[slot++] = block
  return order
}

/** The build's own order: blocks as they are in the tar. */
export function nativeOrder(model: BuildModel): Uint32Array {
  const order = new Uint32Array(model.blockCount)
  for (let block = 0; block < order.length; block++) order[block] = block
  return order
}

/**
 * What container lazy-pull optimisers do: whole files, ordered by their earliest first
 * access over the traces, then the untouched files, all in tar order inside. Traces arrive
 * one at a time (`add`), so a caller can stream them; `order()` gives the result.
 */
export class FileLevelOrder {
  private readonly firstMs: Uint32Array

  constructor(private readonly model: BuildModel) {
    this.firstMs = new Uint32Array(model.files.length).fill(NEVER)
  }

  add(trace: FirstAccess): void {
    const { fileOfBlock } = modelIndex(this.model)
    for (let i = 0; i < trace.blocks.length; i++) {
      const file = fileOfBlock[trace.blocks[i]]
      if (trace.tMs[i] < this.firstMs[file]) this.firstMs[file] = trace.tMs[i]
    }
  }

  order(): Uint32Array {
    const { fileOfBlock } = modelIndex(this.model)
    const keys = new Uint32Array(this.model.blockCount)
    for (let block = 0; block < keys.length; block++) keys[block] = this.firstMs[fileOfBlock[block]]
    return sortByKey(keys)
  }
}

/**
 * The file-level reference order for a set of traces.
 *
 * @example fileLevelOrder(model, [traceA.firstAccess, traceB.firstAccess])
 */
export function fileLevelOrder(model: BuildModel, traces: Iterable<FirstAccess>): Uint32Array {
  const files = new FileLevelOrder(model)
  for (const trace of traces) files.add(trace)
  return files.order()
}

/**
 * A trace's own best order: its blocks in first-access order, then every other block in tar
 * order. No order does better on that trace.
 */
export function idealOrder(model: BuildModel, trace: FirstAccess): Uint32Array {
  const order = new Uint32Array(model.blockCount)
  const placed = new Uint8Array(model.blockCount)
  let slot = 0
  for (const block of trace.blocks) {
    if (!placed[block]) {
      placed[block] = 1
      order[slot++] = block
    }
  }
  for (let block = 0; block < model.blockCount; block++) if (!placed[block]) order[slot++] = block
  return order
}
