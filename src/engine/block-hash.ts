/**
 * Block content hashes and the small checksums the binary formats use. Plain TypeScript on
 * `crypto.subtle`, so it runs the same in workerd, Node and browsers.
 */

/** Bytes kept from the SHA-256 of a block: 16 bytes, 32 lowercase hex characters. */
export const BLOCK_HASH_BYTES = 16

const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'))

/**
 * The hash of a block: the first 16 bytes of the SHA-256 of its bytes, as lowercase hex.
 *
 * @example await hashBlock(new Uint8Array(0)) // 'e3b0c44298fc1c149afbf4c8996fb924'
 */
export async function hashBlock(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>),
  )
  return hashToHex(digest, 0)
}

/** Reads the 16-byte hash at `offset` of `packed` as lowercase hex. */
export function hashToHex(packed: Uint8Array, offset: number): string {
  let hex = ''
  for (let i = offset; i < offset + BLOCK_HASH_BYTES; i++) hex += HEX[packed[i]]
  return hex
}

/** Writes a 32-character hex hash as 16 bytes at `offset` of `target`; throws on bad input. */
export function writeHash(target: Uint8Array, offset: number, hex: string): void {
  if (!/^[0-9a-f]{32}$/.test(hex)) throw new Error(`not a block hash: ${JSON.stringify(hex)}`)
  for (let i = 0; i < BLOCK_HASH_BYTES; i++) {
    target[offset + i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16)
  }
}

/**
 * Packs hex hashes into one byte array (16 bytes each). A build of 1.6 M blocks needs 25 MiB
 * packed against well over 100 MiB as JavaScript strings, which matters inside a Worker.
 */
export function packHashes(hashes: readonly string[]): Uint8Array {
  const packed = new Uint8Array(hashes.length * BLOCK_HASH_BYTES)
  hashes.forEach((hex, i) => {
    writeHash(packed, i * BLOCK_HASH_BYTES, hex)
  })
  return packed
}

/** Unpacks hashes packed by {@link packHashes} back into hex strings. */
export function unpackHashes(packed: Uint8Array): string[] {
  const hashes: string[] = []
  for (let i = 0; i < packed.length; i += BLOCK_HASH_BYTES) hashes.push(hashToHex(packed, i))
  return hashes
}

let crcTable: Uint32Array | undefined

/** CRC-32 (IEEE, as in zip and PNG) of `bytes`, continuing from `crc` when given. */
export function crc32(bytes: Uint8Array, crc = 0): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256)
    for (let n = 0; n < 256; n++) {
      let c = n
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
      crcTable[n] = c >>> 0
    }
  }
  let c = ~crc >>> 0
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]) & 0xff] ^ (c >>> 8)
  return ~c >>> 0
}

/** Block hashes by block index, as hex strings or packed 16 bytes each. */
export type BlockHashes = readonly string[] | Uint8Array

/** How many hashes `hashes` holds. */
export function hashCount(hashes: BlockHashes): number {
  return hashes instanceof Uint8Array ? hashes.length / BLOCK_HASH_BYTES : hashes.length
}

/** The hex hash of block `index`. */
export function hashAt(hashes: BlockHashes, index: number): string {
  return hashes instanceof Uint8Array
    ? hashToHex(hashes, index * BLOCK_HASH_BYTES)
    : (hashes as readonly string[])[index]
}

/** `hashes` packed, 16 bytes per block: packed hashes as they are, hex strings packed. */
export function packedHashes(hashes: BlockHashes): Uint8Array {
  if (!(hashes instanceof Uint8Array)) return packHashes(hashes as readonly string[])
  if (hashes.length % BLOCK_HASH_BYTES !== 0) {
    throw new RangeError(`${hashes.length} bytes are not whole block hashes`)
  }
  return hashes
}

/** Whether block `blockA` of packed `a` and block `blockB` of packed `b` have the same hash. */
export function sameHash(a: Uint8Array, blockA: number, b: Uint8Array, blockB: number): boolean {
  const atA = blockA * BLOCK_HASH_BYTES
  const atB = blockB * BLOCK_HASH_BYTES
  for (let i = 0; i < BLOCK_HASH_BYTES; i++) if (a[atA + i] !== b[atB + i]) return false
  return true
}

/** CRC-32 of `bytes` as if the 4 bytes at `fieldOffset` (where the CRC itself is kept) were 0. */
export function crc32WithoutField(bytes: Uint8Array, fieldOffset: number): number {
  const before = crc32(bytes.subarray(0, fieldOffset))
  const zeroed = crc32(new Uint8Array(4), before)
  return crc32(bytes.subarray(fieldOffset + 4), zeroed)
}
