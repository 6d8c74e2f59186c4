/**
 * The sort keys of the service's order: for each block a key, its need time in ms, and a
 * tie that orders blocks of equal key (docs/training.md, section 3, has the why):
 * - a block touched by at least NEED_SHARE of the traces: the time by which that share of
 *   all traces had touched it (a session that never touches it counts as never), so a block
 *   is early only when enough sessions need it early, and a few fast sessions cannot pull it
 *   in;
 * - any block of a touched file, traced or not, is also placed no later than the time by
 *   which REGION_SHARE of the traces had first read rare data of its region: scattered reads
 *   of a big archive keep hitting blocks no trace has shown yet, so such a region is needed
 *   as a whole. Inside that group, blocks keep a coarse order of time: band 0 up to twice
 *   the region's time, then a band per doubling, by their need time or, for a rare block, the
 *   earliest first access of the few traces that read it. In a band, traced blocks come first in
 *   tar order, then the blocks no trace read by worth (block-worth.ts); a rare traced block
 *   worth less than the best unread block of its region goes among them by worth (a one-off
 *   scan of a table must not push back the index every session looks leaves up in), and
 *   blocks no session is expected to read end the group;
 * - the remaining traced blocks (rare, in regions without that evidence) after all that, by
 *   their earliest access; blocks no trace read last. Outside a region's group, fewer than
 *   REGION_SHARE of the sessions read anything new there, so their worth is not trusted.
 * Equal keys and ties keep block order, so data read sequentially stays sequential.
 */
import { type BlockStats, NEED_SHARE } from './block-stats'
import { NO_CHANCE, worthClasses } from './block-worth'
import { type BuildModel, modelIndex } from './build-model'
import { regionLayout } from './regions'
import { histogramTime, TIME_BINS } from './time-bins'

/**
 * Share of traces that must have read rare data of a region before the whole region is
 * pulled forward; higher than NEED_SHARE because a region is big (up to 256 MiB).
 */
export const REGION_SHARE = 0.25
/** Keys from here on are rare blocks placed after every timed block, by earliest access. */
export const RARE_TIER = 0x80000000
/** Key of blocks no trace read and no region places. */
export const UNTRACED_KEY = 0xffffffff

/** The sort keys of every block: `keys` first, then `ties`, then block order. */
export interface NeedKeys {
  keys: Uint32Array
  ties: Uint16Array
}

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

/** The time by which `target` of all traces had touched a traced block, if they ever did. */
function sharedTime(stats: BlockStats, block: number, target: number): number | undefined {
  const from = block * TIME_BINS
  let binned = 0
  for (let bin = 0; bin < TIME_BINS; bin++) binned += stats.timeBins[from + bin]
  const { count, earliestMs, latestMs } = stats
  const scale = count[block] / binned
  return histogramTime(stats.timeBins, from, scale, target, earliestMs[block], latestMs[block])
}

/** Need time of a block its own statistics can place, or undefined for a rare block. */
function blockNeedTime(stats: BlockStats, block: number, target: number): number | undefined {
  return stats.count[block] < target ? undefined : sharedTime(stats, block, target)
}

/**
 * Band of a need time in a region's group: 0 up to twice the region's time, then one per
 * doubling. Times within a band are too close to outweigh what blocks are worth.
 */
function timeBand(ms: number, regionMs: number): number {
  return Math.min(0xfe, Math.floor(Math.log2(Math.max(1, ms / Math.max(1, regionMs)))))
}

/** Per region, the best worth class of a block no trace read (NO_CHANCE for none). */
function bestUnreadWorth(model: BuildModel, stats: BlockStats, worth: Uint16Array): Uint16Array {
  const { regionOfBlock } = regionLayout(model)
  const best = new Uint16Array(stats.regionCount).fill(NO_CHANCE)
  for (let block = 0; block < model.blockCount; block++) {
    const region = regionOfBlock[block]
    if (stats.count[block] === 0 && worth[block] < best[region]) best[region] = worth[block]
  }
  return best
}

/**
 * The sort keys of every block (see the module comment), blocks timed once `needShare` of the
 * traces read them. Memory: 6 bytes per block plus the model's lookups.
 *
 * @example const { keys, ties } = needKeys(model, stats)
 */
export function needKeys(model: BuildModel, stats: BlockStats, needShare = NEED_SHARE): NeedKeys {
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
  const needTarget = Math.max(1, needShare * stats.nTraces)
  // The worth classes become the ties in place: no second array of 2 bytes per block.
  const ties = worthClasses(model, stats)
  const bestUnread = bestUnreadWorth(model, stats, ties)
  const keys = new Uint32Array(model.blockCount)

  for (let block = 0; block < model.blockCount; block++) {
    const count = stats.count[block]
    const worth = ties[block]
    const own = count > 0 ? blockNeedTime(stats, block, needTarget) : undefined
    const regionIndex = regionOfBlock[block]
    const region = fileTouched[fileOfBlock[block]] ? regionTimes[regionIndex] : undefined
    if (region !== undefined && (own === undefined || own >= region)) {
      keys[block] = clampMs(region)
      if (worth === NO_CHANCE) continue
      const time = own ?? (count > 0 ? stats.earliestMs[block] : region)
      const outworthed = count === 0 || (own === undefined && worth > bestUnread[regionIndex])
      ties[block] = (timeBand(time, region) << 8) | (outworthed ? Math.min(0xff, worth) : 0)
    } else if (own !== undefined) {
      keys[block] = clampMs(own)
      ties[block] = 0
    } else if (count > 0) {
      keys[block] = RARE_TIER + Math.min(RARE_TIER - 2, stats.earliestMs[block])
      ties[block] = 0
    } else {
      keys[block] = UNTRACED_KEY
      ties[block] = 0
    }
  }
  return { keys, ties }
}
