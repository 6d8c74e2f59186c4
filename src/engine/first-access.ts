/**
 * Collects the first access of each block while a trace is read. A session may re-read the
 * same big file many times; skip lists over blocks (and over image slots for '@' reads) jump
 * past everything already touched, so the work is bounded by blocks plus reads whatever the
 * reads' lengths.
 */
import type { FirstAccess } from './trace-types'

/** Smallest index >= `from` not yet touched, compressing the path it walked. */
function nextUntouched(next: Uint32Array, from: number): number {
  let root = from
  while (next[root] !== root) root = next[root]
  let at = from
  while (at !== root) {
    const step = next[at]
    next[at] = root
    at = step
  }
  return root
}

function identity(length: number): Uint32Array {
  const array = new Uint32Array(length)
  for (let i = 0; i < length; i++) array[i] = i
  return array
}

/** Records blocks in the order they are first touched; times must not decrease. */
export class FirstAccessRecorder {
  private readonly blockCount: number
  /** next[b] === b while block b is untouched; index blockCount is a sentinel. */
  private readonly nextBlock: Uint32Array
  private nextSlot: Uint32Array | undefined
  private blocks: Uint32Array
  private tMs: Uint32Array
  private count = 0

  constructor(blockCount: number) {
    this.blockCount = blockCount
    this.nextBlock = identity(blockCount + 1)
    const initial = Math.min(blockCount, 4096)
    this.blocks = new Uint32Array(initial)
    this.tMs = new Uint32Array(initial)
  }

  /** Blocks touched so far. */
  get touched(): number {
    return this.count
  }

  /** Touches blocks `first .. last` (both included) at time `tMs`. */
  touchBlocks(first: number, last: number, tMs: number): void {
    const next = this.nextBlock
    let block = nextUntouched(next, first)
    while (block <= last) {
      this.record(block, tMs)
      next[block] = block + 1
      block = nextUntouched(next, block + 1)
    }
  }

  /** Touches the blocks in image slots `first .. last` of `order` at time `tMs`. */
  touchSlots(order: Uint32Array, first: number, last: number, tMs: number): void {
    if (!this.nextSlot) this.nextSlot = identity(order.length + 1)
    const next = this.nextSlot
    let slot = nextUntouched(next, first)
    while (slot <= last) {
      const block = order[slot]
      if (this.nextBlock[block] === block) {
        this.record(block, tMs)
        this.nextBlock[block] = block + 1
      }
      next[slot] = slot + 1
      slot = nextUntouched(next, slot + 1)
    }
  }

  /** The first accesses, sorted by time and then block index. */
  finish(): FirstAccess {
    const blocks = this.blocks.slice(0, this.count)
    const tMs = this.tMs.slice(0, this.count)
    let start = 0
    for (let i = 1; i <= this.count; i++) {
      if (i === this.count || tMs[i] !== tMs[start]) {
        if (i - start > 1) blocks.subarray(start, i).sort()
        start = i
      }
    }
    return { blocks, tMs }
  }

  private record(block: number, tMs: number): void {
    if (this.count === this.blocks.length) {
      const size = Math.min(this.blockCount, Math.max(16, this.blocks.length * 2))
      const blocks = new Uint32Array(size)
      const times = new Uint32Array(size)
      blocks.set(this.blocks)
      times.set(this.tMs)
      this.blocks = blocks
      this.tMs = times
    }
    this.blocks[this.count] = block
    this.tMs[this.count] = tMs
    this.count++
  }
}
