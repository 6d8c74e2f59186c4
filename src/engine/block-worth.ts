/**
 * What a block is worth early in the image when no need time places it: the reads a new
 * session is expected to make of its data, per block that data takes. Sessions that read a
 * block rarely, and blocks no trace has read yet, still set preloads: a session of a few
 * milliseconds needs every block it reads before it starts, so whatever some new session
 * will likely read must come before what none will, the likeliest per byte first.
 *
 * - A block k of the n traces read belongs to a run: the neighbouring blocks of its file that
 *   the same number of traces read, most likely read together by the same sessions. A new
 *   session reads the run with likelihood k / n and the run costs its length, so each of its
 *   blocks is worth k / (n * length): a table scan a few sessions made is worth less per
 *   block than a page as many sessions read.
 * - A block no trace read: in a neighbourhood of it in its file, leaving each trace out in
 *   turn, the runs that trace alone read are data a new session reads that no other did; so a
 *   new session is expected to read (runs exactly one trace read) / n runs no trace has read
 *   there (the Good-Turing estimate), each on one of the neighbourhood's unread blocks. The
 *   estimate is averaged over NEIGHBOURHOODS_BYTES on either side and capped at the worth of
 *   a block one trace read: an unread leaf of an index beside leaves single sessions read is
 *   likely, a part of a file no session comes near is not.
 *
 * Worth is kept as a class on a log scale, CLASS_STEPS per halving, smaller is worth more, so
 * blocks of about the same worth share a class and keep their file order.
 */
import type { BlockStats } from './block-stats'
import type { BuildModel } from './build-model'

/** Reach of the three neighbourhoods around an unread block, in bytes on either side. */
export const NEIGHBOURHOODS_BYTES = [64 * 1024, 256 * 1024, 1024 * 1024] as const
/** Classes per halving of a block's worth. */
export const CLASS_STEPS = 2
/** The class of a block no session is expected to read. */
export const NO_CHANCE = 0xffff

/** The class of a worth (expected reads per block, at most 1), {@link NO_CHANCE} for none. */
export function worthClass(worth: number): number {
  if (!(worth > 0)) return NO_CHANCE
  const steps = Math.round(-Math.log2(worth) * CLASS_STEPS)
  return Math.min(NO_CHANCE - 1, Math.max(0, steps))
}

/** What a block adds to a neighbourhood's counts (see {@link worthClasses}). */
const SINGLE_RUN = 1
const UNREAD = 2

function kind(count: Uint32Array, block: number, first: number): number {
  const k = count[block]
  if (k === 0) return UNREAD
  return k === 1 && (block === first || count[block - 1] !== 1) ? SINGLE_RUN : 0
}

/** Counts of a neighbourhood as it slides along a file. */
class Window {
  singleRuns = 0
  unread = 0

  constructor(
    readonly reach: number,
    private readonly kinds: Uint8Array,
  ) {}

  /** Adds (step 1) or removes (step -1) what `block` counts for. */
  count(block: number, step: number): void {
    const what = this.kinds[block]
    if (what === SINGLE_RUN) this.singleRuns += step
    else if (what === UNREAD) this.unread += step
  }

  /** Moves the window of a file `first .. end - 1` from `block - 1` to `block`. */
  slide(block: number, first: number, end: number): void {
    if (block + this.reach < end) this.count(block + this.reach, 1)
    if (block - this.reach - 1 >= first) this.count(block - this.reach - 1, -1)
  }

  /** Starts the window of a file at its first block. */
  reset(first: number, end: number): void {
    this.singleRuns = 0
    this.unread = 0
    for (let block = first; block < Math.min(end, first + this.reach); block++) this.count(block, 1)
  }
}

/**
 * The worth class of every block (see the module comment), in one pass over each file with
 * a sliding window per neighbourhood. Memory: the result, 2 bytes per block, and 1 byte per
 * block while it works.
 *
 * @example worthClasses(model, stats)[block] // 0 for the likeliest, NO_CHANCE for none
 */
export function worthClasses(model: BuildModel, stats: BlockStats): Uint16Array {
  const classes = new Uint16Array(model.blockCount).fill(NO_CHANCE)
  const n = stats.nTraces
  if (n === 0) return classes
  const { count } = stats
  // What each block adds to a neighbourhood's counts, worked out once.
  const kinds = new Uint8Array(model.blockCount)
  for (const file of model.files) {
    const end = file.firstBlock + file.blockCount
    for (let block = file.firstBlock; block < end; block++) {
      kinds[block] = kind(count, block, file.firstBlock)
    }
  }
  const [small, middle, large] = NEIGHBOURHOODS_BYTES.map(
    (bytes) => new Window(Math.floor(bytes / model.blockSize), kinds),
  )

  for (const file of model.files) {
    const first = file.firstBlock
    const end = first + file.blockCount
    small.reset(first, end)
    middle.reset(first, end)
    large.reset(first, end)
    let runEnd = first
    let runClass = NO_CHANCE
    let lastExpected = Number.NaN
    let lastClass = NO_CHANCE
    for (let block = first; block < end; block++) {
      small.slide(block, first, end)
      middle.slide(block, first, end)
      large.slide(block, first, end)
      const k = count[block]
      if (k === 0) {
        const expected =
          (small.singleRuns / small.unread +
            middle.singleRuns / middle.unread +
            large.singleRuns / large.unread) /
          3
        // Long unread stretches keep the same counts: work the class out only on a change.
        if (expected !== lastExpected) {
          lastExpected = expected
          lastClass = worthClass(Math.min(1, expected) / n)
        }
        classes[block] = lastClass
      } else {
        if (block >= runEnd) {
          runEnd = block + 1
          while (runEnd < end && count[runEnd] === k) runEnd++
          runClass = worthClass(k / (n * (runEnd - block)))
        }
        classes[block] = runClass
      }
    }
  }
  return classes
}
