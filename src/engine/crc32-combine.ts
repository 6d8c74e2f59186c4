/**
 * CRC-32 arithmetic without the bytes: the CRC of two pieces joined, from each piece's CRC and
 * the second one's length, and the CRC of a header whose own CRC field is filled in, from the
 * CRC it stores. A patch embeds B's image header (33 MB at 1.6 M blocks) and its header CRC
 * covers it; with these, the patch step works that CRC out from B's 64-byte fixed header alone.
 *
 * CRC-32 is linear over GF(2): a CRC register is a polynomial of degree < 32 (bit 31 stands
 * for x^0, reflected as the IEEE CRC is), and running `n` zero bytes through the register
 * multiplies it by x^(8n) modulo the CRC polynomial.
 *
 * Written here rather than taken from a package: the engine must run unchanged in Workers,
 * Node and the CLI, the CRC packages made for those compute CRCs of bytes but do not combine
 * them, and this is a few dozen lines on top of the engine's own `crc32`.
 */
import { crc32 } from './block-hash'

/** The IEEE CRC-32 polynomial, reflected. */
const POLY = 0xedb88320
/** x^0 in the reflected representation. */
const ONE = 0x80000000

/** a * b modulo the CRC polynomial. */
function multiplyModP(a: number, b: number): number {
  let product = 0
  let bits = b
  for (let mask = ONE; mask !== 0 && a !== 0; mask >>>= 1) {
    if (a & mask) {
      product ^= bits
      a ^= mask
    }
    bits = bits & 1 ? (bits >>> 1) ^ POLY : bits >>> 1
  }
  return product >>> 0
}

/** x^(2^k) modulo the CRC polynomial for k = 0..63 (x, x^2, x^4, ...): enough for 2^53 bytes. */
const POWERS: number[] = [ONE >>> 1]
for (let k = 1; k < 64; k++) POWERS.push(multiplyModP(POWERS[k - 1], POWERS[k - 1]))

/** x^(8 * bytes) modulo the CRC polynomial: what `bytes` zero bytes do to a register. */
function zeroBytesFactor(bytes: number): number {
  if (!(Number.isSafeInteger(bytes) && bytes >= 0)) throw new RangeError(`bad length ${bytes}`)
  let factor = ONE
  // The product of x^(2^k) over the set bits k of 8 * bytes; bit 0 of `bytes` is k = 3.
  for (let n = bytes, k = 3; n > 0; n = Math.floor(n / 2), k++) {
    if (n % 2 === 1) factor = multiplyModP(factor, POWERS[k])
  }
  return factor
}

/**
 * The CRC-32 of bytes `A` followed by bytes `B`, from `crcA`, `crcB` and B's length.
 *
 * @example crc32Combine(crc32(a), crc32(b), b.length) === crc32(concat(a, b))
 */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  return (multiplyModP(zeroBytesFactor(lengthB), crcA >>> 0) ^ crcB) >>> 0
}

/**
 * The CRC-32 of a `length`-byte header as it is stored, whose 4-byte field at `fieldOffset`
 * holds `storedCrc`, the CRC of the same bytes with that field zero (see crc32WithoutField).
 */
export function crc32OfStoredHeader(storedCrc: number, fieldOffset: number, length: number) {
  const after = length - fieldOffset - 4
  if (!(Number.isInteger(fieldOffset) && fieldOffset >= 0 && after >= 0)) {
    throw new RangeError(`no 4-byte field at ${fieldOffset} of ${length} bytes`)
  }
  const field = new Uint8Array(4)
  new DataView(field.buffer).setUint32(0, storedCrc, true)
  // The field's own contribution to the register: its bytes run from a zero register
  // (crc32 starts from ~initial, so an initial of ~0 means zero), moved on past what follows.
  const fieldRegister = ~crc32(field, 0xffffffff) >>> 0
  return (storedCrc ^ multiplyModP(zeroBytesFactor(after), fieldRegister)) >>> 0
}
