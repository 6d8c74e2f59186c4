import { describe, expect, it } from 'vitest'
import { crc32, crc32WithoutField } from '../../src/engine/block-hash'
import { crc32Combine, crc32OfStoredHeader } from '../../src/engine/crc32-combine'
import { randomInt, seededRng } from './engine-fixtures'

function randomBytes(rng: () => number, length: number): Uint8Array {
  return Uint8Array.from({ length }, () => randomInt(rng, 0, 255))
}

describe('CRC-32 without the bytes', () => {
  it('joins the CRCs of two pieces into the CRC of both', () => {
    const rng = seededRng(3)
    for (let round = 0; round < 200; round++) {
      const first = randomBytes(rng, randomInt(rng, 0, 300))
      const second = randomBytes(rng, randomInt(rng, 0, round < 100 ? 40 : 5000))
      const both = new Uint8Array(first.length + second.length)
      both.set(first)
      both.set(second, first.length)
      expect(crc32Combine(crc32(first), crc32(second), second.length)).toBe(crc32(both))
    }
    // Known value: the CRC-32 of "123456789" is cbf43926.
    const text = new TextEncoder().encode('123456789')
    expect(crc32Combine(crc32(text.subarray(0, 4)), crc32(text.subarray(4)), 5)).toBe(0xcbf43926)
  })

  it('agrees with itself past 4 GiB, where 8 * length needs more than 32 bits', () => {
    // CRC(A + n zeros), once in one join and once in two: equal only if the powers of x
    // for lengths beyond 2^32 bytes are right.
    const a = new TextEncoder().encode('rockit')
    const big = 2 ** 32 + 7
    const half = 2 ** 31 + 3
    const whole = crc32Combine(crc32(a), zerosCrc(big), big)
    const split = crc32Combine(
      crc32Combine(crc32(a), zerosCrc(half), half),
      zerosCrc(big - half),
      big - half,
    )
    expect(whole).toBe(split)
    // And a small run of zeros agrees with the bytes themselves.
    expect(zerosCrc(100_003)).toBe(crc32(new Uint8Array(100_003)))
  })

  it("finds a header's CRC from the CRC it stores with its field zero", () => {
    const rng = seededRng(5)
    for (let round = 0; round < 100; round++) {
      const length = randomInt(rng, 32, 4000)
      const fieldOffset = randomInt(rng, 0, length - 4)
      const header = randomBytes(rng, length)
      const stored = crc32WithoutField(header, fieldOffset)
      new DataView(header.buffer).setUint32(fieldOffset, stored, true)
      expect(crc32OfStoredHeader(stored, fieldOffset, length)).toBe(crc32(header))
    }
    expect(() => crc32OfStoredHeader(0, 10, 13)).toThrow(RangeError)
    expect(() => crc32Combine(0, 0, -1)).toThrow(RangeError)
  })
})

/** CRC-32 of `n` zero bytes, built by doubling, so no n-byte buffer is needed. */
function zerosCrc(n: number): number {
  let result = crc32(new Uint8Array(0))
  let length = 0
  let power = crc32(new Uint8Array(1))
  let powerLength = 1
  for (let left = n; left > 0; left = Math.floor(left / 2)) {
    if (left % 2 === 1) {
      result = crc32Combine(result, power, powerLength)
      length += powerLength
    }
    power = crc32Combine(power, power, powerLength)
    powerLength *= 2
  }
  expect(length).toBe(n)
  return result
}
