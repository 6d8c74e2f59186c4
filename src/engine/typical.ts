/**
 * The typical sessions' blocks first: an order that serves the most typical share of the
 * sessions ahead of everything else (docs/training.md, section 3).
 *
 * Where sessions each read a different few percent of a build (a game's levels and modes,
 * Python's modules), an order by need times puts every block some session read early ahead
 * of blocks many sessions read a little later, so the median session waits for data that
 * others need. The median P* of a set of sessions is set by the half they serve best, and for
 * that half the best shared order is their blocks by earliest need (shared-bound.ts). This
 * learns that half from the training sessions: a session is typical when little of what it
 * reads is rare, measured as the sum over its blocks of length / (traces that read the block).
 * The blocks of the `share` most typical sessions go first by their earliest need among them;
 * the rest of the order is the statistics' order unchanged.
 *
 * Memory: 4 bytes per block (need times) plus the head's indices; the traces are read twice,
 * one at a time, and at most {@link TYPICAL_SAMPLE} of them.
 */
import { type BlockStats, NEVER } from './block-stats'
import { type BuildModel, blockLengths } from './build-model'
import { type OrderOptions, orderFromStats } from './order'
import { forEachTrace, subsetSource, type TraceSource } from './trace-source'

/** Traces at most the typical sessions are picked from: the newest of the source's. */
export const TYPICAL_SAMPLE = 64

/** How rare a trace's reads are: bytes of each block over the traces that read the block. */
export function rarityScore(stats: BlockStats, lengths: Uint32Array, blocks: Uint32Array): number {
  let score = 0
  for (const block of blocks) score += lengths[block] / Math.max(1, stats.count[block])
  return score
}

/**
 * Need time (ms) of each block among the `share` most typical of the newest
 * {@link TYPICAL_SAMPLE} traces of `source` (sources list traces oldest first); {@link NEVER}
 * for blocks none of them read. Ties in typicality go to the older trace.
 */
export async function typicalNeed(
  model: BuildModel,
  stats: BlockStats,
  source: TraceSource,
  share: number,
): Promise<Uint32Array> {
  if (!(share > 0 && share <= 1)) throw new RangeError(`typical share ${share} is not in (0, 1]`)
  const start = Math.max(0, source.count - TYPICAL_SAMPLE)
  const sample = subsetSource(
    source,
    Array.from({ length: source.count - start }, (_, i) => start + i),
  )
  const lengths = blockLengths(model)
  const scores = new Float64Array(sample.count)
  await forEachTrace(sample, (trace, index) => {
    // A trace that reads nothing (removed meanwhile) says nothing about what is typical.
    const empty = trace.blocks.length === 0
    scores[index] = empty ? Number.POSITIVE_INFINITY : rarityScore(stats, lengths, trace.blocks)
  })
  const ranked = Array.from(scores.keys()).sort((a, b) => scores[a] - scores[b] || a - b)
  const chosen = new Uint8Array(sample.count)
  // The epsilon keeps 0.14 * 50 (7.000000000000001 in floating point) at 7 sessions.
  const count = Math.ceil(share * sample.count - 1e-9)
  for (const index of ranked.slice(0, count)) {
    if (scores[index] !== Number.POSITIVE_INFINITY) chosen[index] = 1
  }

  const need = new Uint32Array(model.blockCount).fill(NEVER)
  await forEachTrace(sample, (trace, index) => {
    if (!chosen[index]) return
    const { blocks, tMs } = trace
    for (let i = 0; i < blocks.length; i++) {
      if (tMs[i] < need[blocks[i]]) need[blocks[i]] = tMs[i]
    }
  })
  return need
}

/**
 * `order` with the blocks `need` times moved in front of the other read blocks, by need time
 * (equal times in block order). Blocks no trace read that lead the order (`untraced:
 * 'first'`) keep leading, the head right after them, even when a head block is among them (a
 * trace not yet counted in `stats` read it). Works in place and returns `order`.
 */
export function withTypicalHead(
  order: Uint32Array,
  need: Uint32Array,
  stats: BlockStats,
): Uint32Array {
  if (order.length !== need.length) {
    throw new RangeError(`${need.length} need times for an order of ${order.length} blocks`)
  }
  let headCount = 0
  for (let block = 0; block < need.length; block++) if (need[block] !== NEVER) headCount++
  const head = new Uint32Array(headCount)
  let at = 0
  for (let block = 0; block < need.length; block++) if (need[block] !== NEVER) head[at++] = block
  head.sort((a, b) => need[a] - need[b] || a - b)

  // The leading untraced blocks, less any of the head, stay in front in their order.
  let prefixEnd = 0
  while (prefixEnd < order.length && stats.count[order[prefixEnd]] === 0) prefixEnd++
  let lead = 0
  for (let slot = 0; slot < prefixEnd; slot++) {
    if (need[order[slot]] === NEVER) order[lead++] = order[slot]
  }
  // The rest keep their order, moved back to make room for the head.
  let write = order.length
  for (let slot = order.length - 1; slot >= prefixEnd; slot--) {
    const block = order[slot]
    if (need[block] === NEVER) order[--write] = block
  }
  if (write !== lead + headCount) throw new RangeError('the order is not a permutation')
  order.set(head, lead)
  return order
}

/**
 * {@link orderFromStats}, then, when `opts.typicalShare` is set, the blocks of the typical
 * sessions of `traces` moved first.
 *
 * @example await orderWithTypical(model, stats, { untraced: 'last', typicalShare: 0.5 }, traces)
 */
export async function orderWithTypical(
  model: BuildModel,
  stats: BlockStats,
  opts: OrderOptions,
  traces: TraceSource,
): Promise<Uint32Array> {
  const order = orderFromStats(model, stats, opts)
  if (opts.typicalShare === undefined) return order
  const need = await typicalNeed(model, stats, traces, opts.typicalShare)
  return withTypicalHead(order, need, stats)
}
