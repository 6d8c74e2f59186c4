import { describe, expect, it } from 'vitest'
import { BLOCK_HASH_BYTES, hashToHex, packHashes } from '../../src/engine/block-hash'
import { BlockHashIndex, indexHashes } from '../../src/engine/hash-index'
import { seededRng } from './engine-fixtures'

const hex = (n: number) => n.toString(16).padStart(32, '0')

function randomHashes(seed: number, count: number): Uint8Array {
  const rng = seededRng(seed)
  return Uint8Array.from({ length: count * BLOCK_HASH_BYTES }, () => Math.floor(rng() * 256))
}

describe('block hash index', () => {
  it('finds every indexed hash and nothing else, against a Map of hex strings', () => {
    const hashes = randomHashes(1, 5000)
    const index = indexHashes(hashes)
    const others = randomHashes(2, 5000)
    const reference = new Map<string, number>()
    for (let block = 0; block < 5000; block++) {
      const key = hashToHex(hashes, block * BLOCK_HASH_BYTES)
      if (!reference.has(key)) reference.set(key, block)
    }
    for (let block = 0; block < 5000; block++) {
      expect(index.find(hashes, block * BLOCK_HASH_BYTES)).toBe(block)
      const other = hashToHex(others, block * BLOCK_HASH_BYTES)
      expect(index.find(others, block * BLOCK_HASH_BYTES)).toBe(reference.get(other) ?? -1)
    }
    expect(index.size).toBe(5000)
    expect(index.byteLength).toBeLessThanOrEqual(5000 * 6 + 8)
  })

  it('maps a repeated hash to its first block and counts it once', () => {
    const hashes = packHashes([hex(7), hex(8), hex(7), hex(9), hex(8), hex(7)])
    const index = indexHashes(hashes)
    expect(index.size).toBe(3)
    expect([0, 1, 2, 3, 4, 5].map((block) => index.find(hashes, block * 16))).toEqual([
      0, 1, 0, 3, 1, 0,
    ])
    const adding = new BlockHashIndex(hashes, 3)
    expect([0, 1, 2, 3, 4, 5].map((block) => adding.add(block))).toEqual([-1, -1, 0, -1, 1, 0])
  })

  it('tells apart hashes that share a start slot and differ in one byte', () => {
    // Same first and last four bytes: the same start slot, one probe run.
    const base = 'aabbccdd' + '00'.repeat(4) + '11'.repeat(4) + '22334455'
    const keys = Array.from(
      { length: 40 },
      (_, i) => base.slice(0, 8) + i.toString(16).padStart(2, '0') + base.slice(10),
    )
    const hashes = packHashes(keys)
    const index = indexHashes(hashes)
    expect(index.size).toBe(40)
    keys.forEach((_, block) => {
      expect(index.find(hashes, block * 16)).toBe(block)
    })
    const missing = packHashes([`${base.slice(0, 8)}ff${base.slice(10)}`])
    expect(index.find(missing, 0)).toBe(-1)
  })

  it('answers -1 on an empty index and for missing keys at any offset', () => {
    const empty = indexHashes(new Uint8Array(0))
    expect(empty.find(packHashes([hex(1)]), 0)).toBe(-1)
    const index = indexHashes(packHashes([hex(1), hex(2)]))
    const probe = packHashes([hex(3), hex(2), hex(4)])
    expect([0, 16, 32].map((at) => index.find(probe, at))).toEqual([-1, 1, -1])
  })

  it('refuses blocks and capacities it cannot hold', () => {
    const hashes = packHashes([hex(1), hex(2), hex(3)])
    const index = new BlockHashIndex(hashes, 2)
    index.add(0)
    index.add(1)
    expect(index.add(0)).toBe(0)
    expect(() => index.add(2)).toThrow(RangeError)
    expect(() => index.add(3)).toThrow(RangeError)
    expect(() => index.find(hashes, 40)).toThrow(RangeError)
    expect(() => new BlockHashIndex(new Uint8Array(17), 1)).toThrow(RangeError)
  })

  it('indexes shorter hashes too', () => {
    const hashes = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 9])
    const index = indexHashes(hashes, 8)
    expect(index.size).toBe(2)
    expect(index.find(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 9]), 0)).toBe(1)
    expect(index.find(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 7]), 0)).toBe(-1)
  })
})
