/**
 * Which block holds a given content hash, for builds of millions of blocks inside a Worker. The
 * hashes stay packed (16 bytes per block, see block-hash.ts) and the index is one Int32Array of
 * block numbers with open addressing and linear probing: 6 bytes per indexed block, 9.6 MB for
 * 1.6 M blocks, where a `Set` or `Map` of hex strings takes well over 100 MB.
 */
import { BLOCK_HASH_BYTES } from './block-hash'

const EMPTY = -1
/** Slots per block the index can hold: at most 2/3 full, so probe runs stay short. */
const SLOTS_PER_BLOCK = 1.5

/** An index from packed hash to the first block added with it. */
export class BlockHashIndex {
  private readonly slots: Int32Array
  private added = 0

  /**
   * An empty index over the packed `hashes` (`hashBytes` each, at least 4) with room for
   * `capacity` distinct hashes.
   */
  constructor(
    readonly hashes: Uint8Array,
    readonly capacity: number,
    readonly hashBytes: number = BLOCK_HASH_BYTES,
  ) {
    if (!Number.isInteger(hashBytes) || hashBytes < 4) {
      throw new RangeError(`hashes of ${hashBytes} bytes cannot be indexed`)
    }
    if (hashes.length % hashBytes !== 0) {
      throw new RangeError(`${hashes.length} bytes are not whole hashes of ${hashBytes} bytes`)
    }
    if (!Number.isInteger(capacity) || capacity < 0) {
      throw new RangeError(`capacity ${capacity} is not a count`)
    }
    // One slot more than the capacity stays empty, so every probe run ends.
    this.slots = new Int32Array(Math.ceil(capacity * SLOTS_PER_BLOCK) + 1).fill(EMPTY)
  }

  /** Distinct hashes added. */
  get size(): number {
    return this.added
  }

  /** Bytes of the index itself (the hashes it points into are the caller's). */
  get byteLength(): number {
    return this.slots.byteLength
  }

  /**
   * Adds `block` (an index into `hashes`) unless a block with the same hash is in already.
   * Returns that earlier block, or -1 when `block` was added.
   */
  add(block: number): number {
    const at = block * this.hashBytes
    if (!(Number.isInteger(block) && block >= 0 && at < this.hashes.length)) {
      throw new RangeError(`no block ${block} among the indexed hashes`)
    }
    const length = this.slots.length
    for (let slot = this.start(this.hashes, at); ; slot = slot + 1 === length ? 0 : slot + 1) {
      const held = this.slots[slot]
      if (held === EMPTY) {
        if (this.added === this.capacity) {
          throw new RangeError(`hash index full at ${this.capacity} hashes`)
        }
        this.slots[slot] = block
        this.added++
        return -1
      }
      if (this.equal(held, this.hashes, at)) return held
    }
  }

  /** The block whose hash equals the `hashBytes` bytes at `at` of `bytes`, or -1. */
  find(bytes: Uint8Array, at: number): number {
    if (!(at >= 0 && at + this.hashBytes <= bytes.length)) {
      throw new RangeError(`no hash at byte ${at}`)
    }
    const length = this.slots.length
    for (let slot = this.start(bytes, at); ; slot = slot + 1 === length ? 0 : slot + 1) {
      const held = this.slots[slot]
      if (held === EMPTY || this.equal(held, bytes, at)) return held
    }
  }

  private start(bytes: Uint8Array, at: number): number {
    // Content hashes are uniform already; mixing in the last word spreads keys that share
    // their first bytes, such as small numbers padded with zeros in tests.
    const end = at + this.hashBytes - 4
    const first = bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)
    const last =
      bytes[end] | (bytes[end + 1] << 8) | (bytes[end + 2] << 16) | (bytes[end + 3] << 24)
    return ((first ^ Math.imul(last, 0x9e3779b1)) >>> 0) % this.slots.length
  }

  private equal(block: number, other: Uint8Array, at: number): boolean {
    const from = block * this.hashBytes
    for (let i = 0; i < this.hashBytes; i++) {
      if (this.hashes[from + i] !== other[at + i]) return false
    }
    return true
  }
}

/**
 * Indexes every block of the packed `hashes`; a hash held by several blocks maps to the first.
 *
 * @example indexHashes(hashesA).find(hashesB, block * BLOCK_HASH_BYTES) // a block of A, or -1
 */
export function indexHashes(
  hashes: Uint8Array,
  hashBytes: number = BLOCK_HASH_BYTES,
): BlockHashIndex {
  const count = hashes.length / hashBytes
  const index = new BlockHashIndex(hashes, Math.floor(count), hashBytes)
  for (let block = 0; block < count; block++) index.add(block)
  return index
}
