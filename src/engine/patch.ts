/**
 * Patches between two images of an app: a launcher holding build A's image fetches only the
 * blocks of B whose content A lacks, plus B's image header, and assembles B's image from both.
 * Byte layout in docs/image-format.md.
 */
import { BLOCK_HASH_BYTES, crc32, crc32WithoutField } from './block-hash'
import { crc32Combine, crc32OfStoredHeader } from './crc32-combine'
import {
  IMAGE_FIXED_HEADER_BYTES,
  imageHeaderLength,
  type ParsedImageHeader,
  parseImageHeader,
} from './dxf'
import { type ByteReader, imageLayout, verifyBlock } from './dxf-stream'
import { BlockHashIndex, indexHashes } from './hash-index'

/** First 8 bytes of every patch. */
export const PATCH_MAGIC = new Uint8Array([0x52, 0x4b, 0x50, 0x41, 0x54, 0x00, 0x0d, 0x0a])

/** The version this code writes; readers accept any minor version of the same major. */
export const PATCH_VERSION = { major: 1, minor: 0 } as const

/** Bytes of a patch's fixed header, which holds `headerLength`. */
export const PATCH_FIXED_HEADER_BYTES = 64

/** A patch that cannot be read or does not fit the image it is applied to. */
export class PatchError extends Error {
  override name = 'PatchError'
  code: 'badMagic' | 'badVersion' | 'truncated' | 'corrupt' | 'wrongBase' | 'missingBlock'

  constructor(code: PatchError['code'], message: string) {
    super(message)
    this.code = code
  }
}

/** What {@link encodePatchHeader} needs: A's identity, B's image header, the blocks to carry. */
export interface PatchHeaderInput {
  from: Pick<ParsedImageHeader, 'headerCrc32' | 'blockCount'>
  toHeaderBytes: Uint8Array
  newBlocks: readonly number[]
}

/** Encodes everything of a patch before its block data. */
export function encodePatchHeader(input: PatchHeaderInput): Uint8Array {
  const to = parseImageHeader(input.toHeaderBytes)
  const imageHeaderOffset = PATCH_FIXED_HEADER_BYTES
  const newBlockListOffset = imageHeaderOffset + to.headerLength
  const headerLength = newBlockListOffset + input.newBlocks.length * 4
  const bytes = new Uint8Array(headerLength)
  const view = new DataView(bytes.buffer)
  let dataLength = 0
  input.newBlocks.forEach((block, i) => {
    if (!(block >= 0 && block < to.blockCount)) throw new RangeError(`no block ${block} in B`)
    view.setUint32(newBlockListOffset + i * 4, block, true)
    dataLength += to.blockLengths[block]
  })
  bytes.set(PATCH_MAGIC, 0)
  view.setUint16(8, PATCH_VERSION.major, true)
  view.setUint16(10, PATCH_VERSION.minor, true)
  view.setUint32(12, to.blockSize, true)
  view.setUint32(16, input.newBlocks.length, true)
  view.setUint32(20, headerLength, true)
  view.setUint32(28, input.from.headerCrc32, true)
  view.setUint32(32, dataLength % 2 ** 32, true)
  view.setUint32(36, Math.floor(dataLength / 2 ** 32), true)
  view.setUint32(40, input.from.blockCount, true)
  view.setUint32(44, imageHeaderOffset, true)
  view.setUint32(48, to.headerLength, true)
  view.setUint32(52, newBlockListOffset, true)
  bytes.set(input.toHeaderBytes.subarray(0, to.headerLength), imageHeaderOffset)
  view.setUint32(24, crc32WithoutField(bytes, 24), true)
  return bytes
}

/** What a patch needs of an image, all in its first {@link IMAGE_FIXED_HEADER_BYTES} bytes. */
export interface ImageFixedFields {
  blockSize: number
  blockCount: number
  headerLength: number
  headerCrc32: number
}

/** Reads {@link ImageFixedFields} from the start of an image; checks its magic and version. */
export function imageFixedFields(head: Uint8Array): ImageFixedFields {
  const headerLength = imageHeaderLength(head)
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength)
  return {
    blockSize: view.getUint32(12, true),
    blockCount: view.getUint32(20, true),
    headerLength,
    headerCrc32: view.getUint32(28, true),
  }
}

/** What {@link encodePatchFixedHeader} needs: no more of B's image than its fixed header. */
export interface PatchFixedHeaderInput {
  /** A's image, the base. */
  from: Pick<ImageFixedFields, 'headerCrc32' | 'blockCount'>
  /** B's image, whose whole header follows the fixed header unchanged. */
  to: ImageFixedFields
  /** The new block list as it follows B's header: a u32 little-endian per carried block. */
  newBlockList: Uint8Array
  /** Bytes of the carried blocks. */
  dataLength: number
}

/**
 * The first {@link PATCH_FIXED_HEADER_BYTES} bytes of a patch whose header is these bytes, then
 * B's image header exactly as stored, then `newBlockList`: the bytes {@link encodePatchHeader}
 * writes, made without B's image header at hand (its CRC covers that header; it is worked out
 * from the CRC B's header stores). So a Worker never holds B's header, 33 MB at 1.6 M blocks.
 */
export function encodePatchFixedHeader(input: PatchFixedHeaderInput): Uint8Array {
  const { from, to, newBlockList, dataLength } = input
  if (newBlockList.length % 4 !== 0) {
    throw new RangeError(`a block list of ${newBlockList.length} bytes`)
  }
  const newBlockListOffset = PATCH_FIXED_HEADER_BYTES + to.headerLength
  const headerLength = newBlockListOffset + newBlockList.length
  if (headerLength >= 2 ** 32) throw new RangeError(`a patch header of ${headerLength} bytes`)
  if (!(Number.isSafeInteger(dataLength) && dataLength >= 0)) {
    throw new RangeError(`bad data length ${dataLength}`)
  }
  const bytes = new Uint8Array(PATCH_FIXED_HEADER_BYTES)
  const view = new DataView(bytes.buffer)
  bytes.set(PATCH_MAGIC, 0)
  view.setUint16(8, PATCH_VERSION.major, true)
  view.setUint16(10, PATCH_VERSION.minor, true)
  view.setUint32(12, to.blockSize, true)
  view.setUint32(16, newBlockList.length / 4, true)
  view.setUint32(20, headerLength, true)
  view.setUint32(28, from.headerCrc32, true)
  view.setUint32(32, dataLength % 2 ** 32, true)
  view.setUint32(36, Math.floor(dataLength / 2 ** 32), true)
  view.setUint32(40, from.blockCount, true)
  view.setUint32(44, PATCH_FIXED_HEADER_BYTES, true)
  view.setUint32(48, to.headerLength, true)
  view.setUint32(52, newBlockListOffset, true)
  // The CRC field (24) is still zero here, as the CRC of the whole patch header wants it.
  const image = crc32OfStoredHeader(to.headerCrc32, 28, to.headerLength)
  const throughImage = crc32Combine(crc32(bytes), image, to.headerLength)
  view.setUint32(24, crc32(newBlockList, throughImage), true)
  return bytes
}

/** A patch header, decoded. */
export interface ParsedPatchHeader {
  version: { major: number; minor: number }
  blockSize: number
  fromHeaderCrc32: number
  fromBlockCount: number
  /** B's image header, parsed, and its bytes (the start of B's image). */
  image: ParsedImageHeader
  imageHeaderBytes: Uint8Array
  /** B block indices carried, in the order their bytes follow the header. */
  newBlocks: Uint32Array
  headerLength: number
  dataLength: number
  /** Size of the whole patch in bytes. */
  totalBytes: number
}

/** Reads `headerLength` from the first {@link PATCH_FIXED_HEADER_BYTES} bytes of a patch. */
export function patchHeaderLength(head: Uint8Array): number {
  if (head.length < PATCH_FIXED_HEADER_BYTES) {
    throw new PatchError('truncated', `a patch starts with ${PATCH_FIXED_HEADER_BYTES} bytes`)
  }
  if (!PATCH_MAGIC.every((byte, i) => head[i] === byte)) {
    throw new PatchError('badMagic', 'not a dxf patch (bad magic)')
  }
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength)
  const major = view.getUint16(8, true)
  if (major !== PATCH_VERSION.major) {
    throw new PatchError('badVersion', `patch major version ${major} is not supported`)
  }
  return view.getUint32(20, true)
}

/** Decodes a patch header (at least `headerLength` bytes). */
export function parsePatchHeader(bytes: Uint8Array): ParsedPatchHeader {
  const headerLength = patchHeaderLength(bytes)
  if (bytes.length < headerLength) {
    throw new PatchError(
      'truncated',
      `patch header needs ${headerLength} bytes, got ${bytes.length}`,
    )
  }
  const header = bytes.subarray(0, headerLength)
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength)
  const storedCrc = view.getUint32(24, true)
  if (crc32WithoutField(header, 24) !== storedCrc) {
    throw new PatchError('corrupt', 'patch header CRC mismatch')
  }

  const u32 = (at: number) => view.getUint32(at, true)
  const [imageHeaderOffset, imageHeaderBytesLength, listOffset] = [u32(44), u32(48), u32(52)]
  const count = u32(16)
  if (
    imageHeaderOffset + imageHeaderBytesLength > headerLength ||
    listOffset + count * 4 > headerLength
  ) {
    throw new PatchError('corrupt', 'patch header section out of bounds')
  }
  const imageHeaderBytes = header.subarray(
    imageHeaderOffset,
    imageHeaderOffset + imageHeaderBytesLength,
  )
  const image = parseImageHeader(imageHeaderBytes)
  const newBlocks = new Uint32Array(count)
  let dataLength = 0
  for (let i = 0; i < count; i++) {
    newBlocks[i] = u32(listOffset + i * 4)
    if (newBlocks[i] >= image.blockCount)
      throw new PatchError('corrupt', 'patch lists an unknown block')
    dataLength += image.blockLengths[newBlocks[i]]
  }
  if (dataLength !== u32(36) * 2 ** 32 + u32(32)) {
    throw new PatchError('corrupt', 'patch data length mismatch')
  }
  return {
    version: { major: view.getUint16(8, true), minor: view.getUint16(10, true) },
    blockSize: u32(12),
    fromHeaderCrc32: u32(28),
    fromBlockCount: u32(40),
    image,
    imageHeaderBytes,
    newBlocks,
    headerLength,
    dataLength,
    totalBytes: headerLength + dataLength,
  }
}

/** Streams a whole patch: its header, then the carried blocks of B, each checked. */
export async function* writePatch(
  patchHeaderBytes: Uint8Array,
  blockBytesB: (block: number) => Promise<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  const patch = parsePatchHeader(patchHeaderBytes)
  yield patchHeaderBytes.subarray(0, patch.headerLength)
  for (const block of patch.newBlocks) {
    const bytes = await blockBytesB(block)
    await verifyBlock(patch.image, block, bytes)
    yield bytes
  }
}

async function readHeader(read: ByteReader, fixed: number, lengthOf: (head: Uint8Array) => number) {
  const head = await read(0, fixed)
  const length = lengthOf(head)
  return head.length >= length ? head : read(0, length)
}

/**
 * Produces B's image from A's image and a patch, as a launcher would: B's header from the
 * patch, then each slot of B from the patch or from A's image, every block checked.
 */
export async function* applyPatch(readA: ByteReader, readPatch: ByteReader) {
  const a = parseImageHeader(await readHeader(readA, IMAGE_FIXED_HEADER_BYTES, imageHeaderLength))
  const patch = parsePatchHeader(
    await readHeader(readPatch, PATCH_FIXED_HEADER_BYTES, patchHeaderLength),
  )
  if (patch.fromHeaderCrc32 !== a.headerCrc32 || patch.fromBlockCount !== a.blockCount) {
    throw new PatchError('wrongBase', 'this patch was made for another image')
  }
  const b = patch.image
  const layoutA = imageLayout(a)
  const inA = indexHashes(a.hashes)
  const inPatch = new BlockHashIndex(b.hashes, patch.newBlocks.length)
  const patchOffset = new Map<number, number>()
  let at = patch.headerLength
  for (const block of patch.newBlocks) {
    if (inPatch.add(block) === -1) patchOffset.set(block, at)
    at += b.blockLengths[block]
  }

  yield patch.imageHeaderBytes
  for (const block of b.order) {
    const length = b.blockLengths[block]
    const carrier = inPatch.find(b.hashes, block * BLOCK_HASH_BYTES)
    const blockA = carrier === -1 ? inA.find(b.hashes, block * BLOCK_HASH_BYTES) : -1
    let bytes: Uint8Array
    if (carrier !== -1) bytes = await readPatch(patchOffset.get(carrier) as number, length)
    else if (blockA !== -1) {
      bytes = await readA(layoutA.slotOffset(layoutA.slotOfBlock(blockA)), length)
    } else throw new PatchError('missingBlock', `block ${block} of B is in neither A nor the patch`)
    await verifyBlock(b, block, bytes)
    yield bytes
  }
}
