/**
 * Image orders: slot -> block permutations of a build. The service's order sorts the blocks
 * by the keys of need-keys.ts (when enough sessions need each block, and what the rest are
 * worth); the others are the references every report compares it with.
 */

import { type BlockStats, NEVER } from './block-stats'
import { type BuildModel, modelIndex } from './build-model'
import { sortByKey } from './key-sort'
import { needKeys } from './need-keys'
import type { FirstAccess } from './trace-types'

/** Options of {@link orderFromStats}. */
export interface OrderOptions {
  /** Where blocks no trace touched go: 'last' once traces are reliable, 'first' before. */
  untraced: 'first' | 'last'
  /**
   * Share of the traces that must have read a block before its own need time places it
   * (default `NEED_SHARE`, 10 %); see {@link ORDER_METHODS}.
   */
  needShare?: number
  /**
   * When set, the blocks of this share of the training sessions, the most typical, go first
   * (typical.ts). It needs the traces themselves, not only their statistics: orders built from
   * a trace source apply it (`statsOrderBuilder`), {@link orderFromStats} does not.
   */
  typicalShare?: number
}

/** A way to order a build from its statistics, as `mkdxf` names it in its runs. */
export interface OrderMethod {
  name: string
  /** What the name means, for run records. */
  label: string
  needShare: number
  /** See {@link OrderOptions.typicalShare}. */
  typicalShare?: number
}

/**
 * The orders `mkdxf` measures by cross-validation, keeping the best for the app (the first on
 * a tie). Timing a block only once a tenth of the sessions read it keeps one fast session from
 * pulling rare data ahead of what every session needs first (long game sessions); timing it by
 * its first reader serves apps whose short sessions each read a few modules of many, where a
 * module two sessions in twenty read is needed at start by the next session that reads it;
 * putting the blocks of the most typical half of the sessions first serves the median session
 * where each reads a different few percent (typical.ts; docs/training.md, section 3).
 */
export const ORDER_METHODS: readonly OrderMethod[] = [
  { name: 'tenth', label: 'blocks timed once a tenth of the sessions read them', needShare: 0.1 },
  { name: 'first', label: 'blocks timed once any session read them', needShare: 0 },
  {
    name: 'typical',
    label:
      'blocks of the most typical half of the sessions first, ' +
      'the rest timed once a tenth read them',
    needShare: 0.1,
    typicalShare: 0.5,
  },
]

/**
 * The service's order of all blocks from the aggregate statistics (see need-keys.ts).
 *
 * @example const order = orderFromStats(model, stats, { untraced: 'last' })
 */
export function orderFromStats(
  model: BuildModel,
  stats: BlockStats,
  opts: OrderOptions,
): Uint32Array {
  const { keys, ties } = needKeys(model, stats, opts.needShare)
  const sorted = sortByKey(keys, ties)
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
