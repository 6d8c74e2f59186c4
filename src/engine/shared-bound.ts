/**
 * The best any single order shared by a set of sessions can do: the smallest median (or other
 * quantile) of P* over those sessions that some image order reaches. It is an oracle, worked
 * out from the very sessions it is measured on, so no order learnt from other sessions can beat
 * it; when it is far above the sessions' own orders (`ideal`), no shared order gets near them.
 *
 * Why it is exact. With the stream starting at 0, a session s that first needs block b at
 * t_s(b) has P*_s = max(0, max_b(end(b) - B * t_s(b))) (reads before b reach no further than
 * end(b) and happen earlier). For a set S of sessions, max over S of P*_s is then the maximum
 * lateness of one machine serving the blocks of S's union with due dates d(b) = min over S of
 * t_s(b) and work = block lengths: earliest due date first is optimal (Jackson's rule), and
 * blocks outside the union go after. The r-th smallest P* of any order is the largest P* of the
 * r sessions it serves best, so it is at least the value of their set; the best order of the
 * best set of r sessions reaches it. So the best quantile is the minimum over sets of r
 * sessions of that set's value, with r = ceil(q * h) for h sessions (the nearest rank of
 * evaluate.ts's `quantile`). Each bandwidth has its own best set, and so its own order.
 *
 * The search: sets of r sessions, depth first, sessions by their own (ideal) P*, cut where a
 * set cannot beat the best so far (a set's value only grows as sessions join it, and is at
 * least the ideal of each member). It is exact unless `maxSets` sets were evaluated first.
 */
import { type BuildModel, blockLengths } from './build-model'
import type { PreloadFigure, QualityRow } from './evaluate'
import { BYTES_PER_MBIT, idealPreload } from './preload'
import type { FirstAccess } from './trace-types'

/** Name of the row reports give the bound. */
export const BEST_SHARED_ROW = 'best shared'

/** Sets evaluated at most per bandwidth and quantile before the search gives up being exact. */
export const MAX_SETS = 200_000

/** The best quantile of P* an order shared by all sessions reaches, at one bandwidth. */
export interface SharedBound {
  /** P* in bytes. */
  bytes: number
  /** Indices of the sessions whose union goes first in the order that reaches it. */
  sessions: number[]
  /** False when the search stopped after `maxSets` sets: `bytes` reachable, maybe not best. */
  exact: boolean
  /** Sets of sessions evaluated. */
  sets: number
}

/** How many sessions a quantile of h values depends on (nearest rank, as `quantile`). */
export function quantileRank(h: number, q: number): number {
  return Math.min(h, Math.max(1, Math.ceil(q * h)))
}

/** Works out the value of sets of sessions: one scratch array of need times for all of them. */
class SetValue {
  private readonly need: Float64Array
  private readonly union: number[] = []

  constructor(
    private readonly lengths: Uint32Array,
    private readonly traces: readonly FirstAccess[],
  ) {
    this.need = new Float64Array(lengths.length).fill(Number.POSITIVE_INFINITY)
  }

  /** The blocks of the sets' union, by earliest need over the set (then block), with needs. */
  order(set: readonly number[]): { blocks: number[]; needMs: Float64Array } {
    const { need, union } = this
    union.length = 0
    for (const index of set) {
      const { blocks, tMs } = this.traces[index]
      for (let i = 0; i < blocks.length; i++) {
        const block = blocks[i]
        if (need[block] === Number.POSITIVE_INFINITY) union.push(block)
        if (tMs[i] < need[block]) need[block] = tMs[i]
      }
    }
    const blocks = union.slice().sort((a, b) => need[a] - need[b] || a - b)
    const needMs = Float64Array.from(blocks, (block) => need[block])
    for (const block of union) need[block] = Number.POSITIVE_INFINITY
    return { blocks, needMs }
  }

  /** The largest P* over the set's sessions on the set's best order, at `bandwidth` bytes/s. */
  value(set: readonly number[], bandwidth: number): number {
    const { blocks, needMs } = this.order(set)
    let reach = 0
    let worst = 0
    for (let i = 0; i < blocks.length; i++) {
      reach += this.lengths[blocks[i]]
      // Only the last block of a run of equal need times can set the maximum.
      if (i + 1 < blocks.length && needMs[i + 1] === needMs[i]) continue
      worst = Math.max(worst, reach - (bandwidth * needMs[i]) / 1000)
    }
    return worst
  }
}

/**
 * The best quantile `q` of P* over `traces` that any one order reaches, per bandwidth (bytes/s).
 * `lengths` from `blockLengths(model)`.
 *
 * @example sharedOrderBound(blockLengths(model), heldOut, [100 * BYTES_PER_MBIT])[0].bytes
 */
export function sharedOrderBound(
  lengths: Uint32Array,
  traces: readonly FirstAccess[],
  bandwidths: readonly number[],
  q = 0.5,
  opts: { maxSets?: number } = {},
): SharedBound[] {
  const h = traces.length
  if (h === 0) return bandwidths.map(() => ({ bytes: 0, sessions: [], exact: true, sets: 0 }))
  const r = quantileRank(h, q)
  const values = new SetValue(lengths, traces)
  const ideals = traces.map((trace) => idealPreload(lengths, trace, bandwidths))
  return bandwidths.map((bandwidth, b) =>
    searchSets(
      values,
      ideals.map((ideal) => ideal[b]),
      r,
      bandwidth,
      opts.maxSets ?? MAX_SETS,
    ),
  )
}

/** Depth-first search for the set of r sessions of least value (see the module comment). */
function searchSets(
  values: SetValue,
  ideals: number[],
  r: number,
  bandwidth: number,
  maxSets: number,
): SharedBound {
  const byIdeal = ideals.map((_, i) => i).sort((a, b) => ideals[a] - ideals[b] || a - b)
  const h = byIdeal.length
  // A first answer to cut with: the r sessions of least ideal.
  let bestSet = byIdeal.slice(0, r)
  let best = values.value(bestSet, bandwidth)
  let sets = 1
  let exact = true
  const chosen: number[] = []

  const visit = (from: number): void => {
    for (let at = from; at <= h - (r - chosen.length); at++) {
      if (sets >= maxSets) {
        exact = false
        return
      }
      // Every set from here holds a session of ideal at least the one r - |chosen| places on.
      if (ideals[byIdeal[at + r - chosen.length - 1]] >= best) return
      chosen.push(byIdeal[at])
      const value = values.value(chosen, bandwidth)
      sets++
      if (value < best) {
        if (chosen.length === r) {
          best = value
          bestSet = chosen.slice()
        } else visit(at + 1)
      }
      chosen.pop()
    }
  }
  visit(0)
  return { bytes: best, sessions: bestSet.sort((a, b) => a - b), exact, sets }
}

/**
 * The order that reaches a set's value: the union of the sessions' blocks by their earliest
 * need over the set, then every other block in block order.
 *
 * @example preloadBytes(model, sharedOrder(model, [a, b]), a, bandwidth)
 */
export function sharedOrder(model: BuildModel, traces: readonly FirstAccess[]): Uint32Array {
  const lengths = blockLengths(model)
  const { blocks } = new SetValue(lengths, traces).order(traces.map((_, i) => i))
  const order = new Uint32Array(model.blockCount)
  const placed = new Uint8Array(model.blockCount)
  let slot = 0
  for (const block of blocks) {
    placed[block] = 1
    order[slot++] = block
  }
  for (let block = 0; block < model.blockCount; block++) if (!placed[block]) order[slot++] = block
  return order
}

/** The report row of the bound, and whether every figure of it is exact. */
export interface BestSharedRow {
  row: QualityRow
  exact: boolean
  /** Per bandwidth, the sessions (indices into the traces) whose union reaches the median. */
  medianSessions: number[][]
}

/**
 * The `best shared` row of a report over `traces`: per bandwidth (Mbit/s) the best median and
 * the best p90 any shared order reaches (each may need its own order).
 *
 * @example const { row } = bestSharedRow(model, heldOut, [25, 100, 1000])
 */
export function bestSharedRow(
  model: BuildModel,
  traces: readonly FirstAccess[],
  mbits: readonly number[],
  opts: { maxSets?: number } = {},
): BestSharedRow {
  const lengths = blockLengths(model)
  let imageBytes = 0
  for (const length of lengths) imageBytes += length
  const bandwidths = mbits.map((mbit) => mbit * BYTES_PER_MBIT)
  const median = sharedOrderBound(lengths, traces, bandwidths, 0.5, opts)
  const p90 = sharedOrderBound(lengths, traces, bandwidths, 0.9, opts)
  const figure = (bytes: number, bandwidth: number): PreloadFigure => ({
    bytes,
    fraction: imageBytes === 0 ? 0 : bytes / imageBytes,
    seconds: bytes / bandwidth,
  })
  return {
    row: {
      name: BEST_SHARED_ROW,
      bandwidths: mbits.map((mbit, b) => ({
        mbit,
        median: figure(median[b].bytes, bandwidths[b]),
        p90: figure(p90[b].bytes, bandwidths[b]),
      })),
    },
    exact: [...median, ...p90].every((bound) => bound.exact),
    medianSessions: median.map((bound) => bound.sessions),
  }
}
