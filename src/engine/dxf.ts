/**
 * The `dxf/1` image format: one object holding a build's file table, block hashes, block map
 * and load profile, followed by the block data in image order. Byte layout and versioning
 * rules are in docs/image-format.md; this file is their only implementation.
 */
import {
  BLOCK_HASH_BYTES,
  type BlockHashes,
  crc32WithoutField,
  hashAt,
  hashCount,
  writeHash,
} from './block-hash'

/** First 8 bytes of every image; the CR LF catches transfers that rewrite line ends. */
export const IMAGE_MAGIC = new Uint8Array([0x52, 0x4b, 0x44, 0x58, 0x46, 0x00, 0x0d, 0x0a])

/** The version this code writes. Readers accept any minor version of the same major. */
export const IMAGE_VERSION = { major: 1, minor: 0 } as const

/** Bytes of the fixed header: enough to learn `headerLength` and fetch the rest at once. */
export const IMAGE_FIXED_HEADER_BYTES = 64

const FILE_RECORD_BYTES = 36
const KIND_CODES = { file: 0, dir: 1, symlink: 2 } as const
const KINDS = ['file', 'dir', 'symlink'] as const

/** A file table entry of an image (a `ScannedFile` fits). */
export interface ImageFile {
  path: string
  kind: 'file' | 'dir' | 'symlink'
  size: number
  mode: number
  mtimeSec: number
  firstBlock: number
  blockCount: number
  linkTarget?: string
}

/** Everything before the block data, decoded. */
export interface ParsedImageHeader {
  version: { major: number; minor: number }
  blockSize: number
  files: ImageFile[]
  blockCount: number
  /** Block hashes by block index, 16 bytes each (see `hashAt`). */
  hashes: Uint8Array
  /** Byte length of each block, by block index. */
  blockLengths: Uint32Array
  /** Image slot -> block index; a permutation of the blocks. */
  order: Uint32Array
  profile?: unknown
  /** Bytes before the block data; block data starts at this offset. */
  headerLength: number
  /** Bytes of block data: the sum of the file sizes. */
  dataLength: number
  /** CRC-32 of the header bytes, which identifies this exact image. */
  headerCrc32: number
}

/** What {@link encodeImageHeader} needs. */
export interface ImageHeaderInput {
  blockSize: number
  files: readonly ImageFile[]
  blockHashes: BlockHashes
  order: Uint32Array
  profile?: unknown
}

/** An image that cannot be read: wrong magic or version, cut short, or inconsistent. */
export class ImageFormatError extends Error {
  override name = 'ImageFormatError'
  code: 'badMagic' | 'badVersion' | 'truncated' | 'corrupt' | 'hashMismatch'
  /** For 'truncated': how many bytes the reader must supply. */
  needBytes?: number

  constructor(code: ImageFormatError['code'], message: string, needBytes?: number) {
    super(message)
    this.code = code
    if (needBytes !== undefined) this.needBytes = needBytes
  }
}

const utf8Encoder = new TextEncoder()
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })

/**
 * Encodes everything that precedes the block data: fixed header, file table, block hashes,
 * block map and load profile. Throws when the files do not cover the blocks in order or
 * `order` is not a permutation.
 */
export function encodeImageHeader(input: ImageHeaderInput): Uint8Array {
  const { blockSize, files, blockHashes, order } = input
  const blockCount = hashCount(blockHashes)
  checkFileTable(files, blockSize, blockCount)
  checkPermutation(order, blockCount)

  const names = files.map((file) => ({
    path: utf8Encoder.encode(file.path),
    link: utf8Encoder.encode(file.linkTarget ?? ''),
  }))
  const fileTableLength = names.reduce(
    (sum, name) => sum + FILE_RECORD_BYTES + name.path.length + name.link.length,
    0,
  )
  const profile =
    input.profile === undefined
      ? new Uint8Array(0)
      : utf8Encoder.encode(JSON.stringify(input.profile))
  const fileTableOffset = IMAGE_FIXED_HEADER_BYTES
  const hashTableOffset = fileTableOffset + fileTableLength
  const blockMapOffset = hashTableOffset + blockCount * BLOCK_HASH_BYTES
  const profileOffset = blockMapOffset + blockCount * 4
  const headerLength = profileOffset + profile.length
  if (headerLength > 0xffffffff) throw new RangeError('image header over 4 GiB')

  const bytes = new Uint8Array(headerLength)
  const view = new DataView(bytes.buffer)
  bytes.set(IMAGE_MAGIC, 0)
  view.setUint16(8, IMAGE_VERSION.major, true)
  view.setUint16(10, IMAGE_VERSION.minor, true)
  view.setUint32(12, blockSize, true)
  view.setUint32(16, files.length, true)
  view.setUint32(20, blockCount, true)
  view.setUint32(24, headerLength, true)
  writeUint64(
    view,
    32,
    files.reduce((sum, file) => sum + (file.kind === 'file' ? file.size : 0), 0),
  )
  view.setUint32(40, fileTableOffset, true)
  view.setUint32(44, fileTableLength, true)
  view.setUint32(48, hashTableOffset, true)
  view.setUint32(52, blockMapOffset, true)
  view.setUint32(56, profileOffset, true)
  view.setUint32(60, profile.length, true)

  let at = fileTableOffset
  files.forEach((file, i) => {
    const { path, link } = names[i]
    if (path.length > 0xffff || link.length > 0xffff)
      throw new RangeError(`name too long: ${file.path}`)
    view.setUint8(at, KIND_CODES[file.kind])
    view.setUint16(at + 2, path.length, true)
    view.setUint16(at + 4, link.length, true)
    view.setUint32(at + 8, file.mode, true)
    writeUint64(view, at + 12, file.size)
    view.setUint32(at + 20, (file.mtimeSec % 2 ** 32) >>> 0, true)
    view.setInt32(at + 24, Math.floor(file.mtimeSec / 2 ** 32), true)
    view.setUint32(at + 28, file.firstBlock, true)
    view.setUint32(at + 32, file.blockCount, true)
    bytes.set(path, at + FILE_RECORD_BYTES)
    bytes.set(link, at + FILE_RECORD_BYTES + path.length)
    at += FILE_RECORD_BYTES + path.length + link.length
  })
  if (blockHashes instanceof Uint8Array) bytes.set(blockHashes, hashTableOffset)
  else {
    blockHashes.forEach((hash, i) => {
      writeHash(bytes, hashTableOffset + i * BLOCK_HASH_BYTES, hash)
    })
  }
  for (let slot = 0; slot < blockCount; slot++) {
    view.setUint32(blockMapOffset + slot * 4, order[slot], true)
  }
  bytes.set(profile, profileOffset)
  view.setUint32(28, crc32WithoutField(bytes, 28), true)
  return bytes
}

/**
 * Reads `headerLength` from the first {@link IMAGE_FIXED_HEADER_BYTES} bytes of an image, so
 * a reader can fetch exactly the header with one range request.
 */
export function imageHeaderLength(head: Uint8Array): number {
  checkFixedHeader(head)
  return new DataView(head.buffer, head.byteOffset, head.byteLength).getUint32(24, true)
}

/** Decodes an image header (at least `headerLength` bytes; more is fine). */
export function parseImageHeader(bytes: Uint8Array): ParsedImageHeader {
  const headerLength = imageHeaderLength(bytes)
  if (bytes.length < headerLength) {
    throw new ImageFormatError(
      'truncated',
      `image header needs ${headerLength} bytes, got ${bytes.length}`,
      headerLength,
    )
  }
  const header = bytes.subarray(0, headerLength)
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength)
  const storedCrc = view.getUint32(28, true)
  if (crc32WithoutField(header, 28) !== storedCrc)
    throw new ImageFormatError('corrupt', 'image header CRC mismatch')

  const u32 = (at: number) => view.getUint32(at, true)
  const blockSize = u32(12)
  const fileCount = u32(16)
  const blockCount = u32(20)
  const [fileTableOffset, fileTableLength, hashTableOffset, blockMapOffset] = [40, 44, 48, 52].map(
    u32,
  )
  const [profileOffset, profileLength] = [u32(56), u32(60)]
  const within = (offset: number, length: number) => offset + length <= headerLength
  if (
    !within(fileTableOffset, fileTableLength) ||
    !within(hashTableOffset, blockCount * BLOCK_HASH_BYTES) ||
    !within(blockMapOffset, blockCount * 4) ||
    !within(profileOffset, profileLength)
  ) {
    throw new ImageFormatError('corrupt', 'image header section out of bounds')
  }

  const files = readFileTable(header, view, fileTableOffset, fileTableLength, fileCount)
  const blockLengths = checkFileTable(files, blockSize, blockCount)
  const order = new Uint32Array(blockCount)
  for (let slot = 0; slot < blockCount; slot++) order[slot] = u32(blockMapOffset + slot * 4)
  checkPermutation(order, blockCount)
  const dataLength = readUint64(view, 32)
  const sizes = files.reduce((sum, file) => sum + (file.kind === 'file' ? file.size : 0), 0)
  if (dataLength !== sizes) throw new ImageFormatError('corrupt', 'image data length mismatch')

  const parsed: ParsedImageHeader = {
    version: { major: view.getUint16(8, true), minor: view.getUint16(10, true) },
    blockSize,
    files,
    blockCount,
    hashes: header.subarray(hashTableOffset, hashTableOffset + blockCount * BLOCK_HASH_BYTES),
    blockLengths,
    order,
    headerLength,
    dataLength,
    headerCrc32: storedCrc,
  }
  if (profileLength > 0) {
    const text = utf8Decoder.decode(header.subarray(profileOffset, profileOffset + profileLength))
    parsed.profile = JSON.parse(text)
  }
  return parsed
}

/** The hex hash of `block` in a parsed header. */
export function imageBlockHash(header: ParsedImageHeader, block: number): string {
  return hashAt(header.hashes, block)
}

function checkFixedHeader(head: Uint8Array) {
  if (head.length < IMAGE_FIXED_HEADER_BYTES) {
    throw new ImageFormatError(
      'truncated',
      `an image starts with ${IMAGE_FIXED_HEADER_BYTES} header bytes, got ${head.length}`,
      IMAGE_FIXED_HEADER_BYTES,
    )
  }
  if (!IMAGE_MAGIC.every((byte, i) => head[i] === byte)) {
    throw new ImageFormatError('badMagic', 'not a dxf image (bad magic)')
  }
  const major = head[8] | (head[9] << 8)
  if (major !== IMAGE_VERSION.major) {
    throw new ImageFormatError('badVersion', `dxf major version ${major} is not supported`)
  }
}

function readFileTable(
  header: Uint8Array,
  view: DataView,
  offset: number,
  length: number,
  count: number,
): ImageFile[] {
  const files: ImageFile[] = []
  let at = offset
  const end = offset + length
  for (let i = 0; i < count; i++) {
    if (at + FILE_RECORD_BYTES > end) throw new ImageFormatError('corrupt', 'file table cut short')
    const kind = KINDS[view.getUint8(at)]
    const pathLength = view.getUint16(at + 2, true)
    const linkLength = view.getUint16(at + 4, true)
    const names = at + FILE_RECORD_BYTES
    if (!kind || names + pathLength + linkLength > end) {
      throw new ImageFormatError('corrupt', `bad file table entry ${i}`)
    }
    const file: ImageFile = {
      path: utf8Decoder.decode(header.subarray(names, names + pathLength)),
      kind,
      size: readUint64(view, at + 12),
      mode: view.getUint32(at + 8, true),
      mtimeSec: view.getInt32(at + 24, true) * 2 ** 32 + view.getUint32(at + 20, true),
      firstBlock: view.getUint32(at + 28, true),
      blockCount: view.getUint32(at + 32, true),
    }
    if (kind === 'symlink') {
      const link = names + pathLength
      file.linkTarget = utf8Decoder.decode(header.subarray(link, link + linkLength))
    }
    files.push(file)
    at = names + pathLength + linkLength
  }
  return files
}

/** Checks that regular files own consecutive blocks in table order; returns block lengths. */
function checkFileTable(files: readonly ImageFile[], blockSize: number, blockCount: number) {
  if (!Number.isInteger(blockSize) || blockSize < 1) {
    throw new ImageFormatError('corrupt', `bad block size ${blockSize}`)
  }
  const lengths = new Uint32Array(blockCount)
  let next = 0
  for (const file of files) {
    const expected = file.kind === 'file' ? Math.ceil(file.size / blockSize) : 0
    if (file.firstBlock !== next || file.blockCount !== expected) {
      throw new ImageFormatError('corrupt', `blocks of ${file.path} do not follow the file table`)
    }
    if (next + expected > blockCount) {
      throw new ImageFormatError('corrupt', 'file table holds more blocks than the image')
    }
    for (let k = 0; k < expected; k++) {
      lengths[next + k] = Math.min(blockSize, file.size - k * blockSize)
    }
    next += expected
  }
  if (next !== blockCount) {
    throw new ImageFormatError('corrupt', `file table holds ${next} blocks, expected ${blockCount}`)
  }
  return lengths
}

function checkPermutation(order: Uint32Array, blockCount: number) {
  if (order.length !== blockCount) {
    throw new ImageFormatError(
      'corrupt',
      `block map has ${order.length} slots for ${blockCount} blocks`,
    )
  }
  const seen = new Uint8Array(blockCount)
  for (let slot = 0; slot < blockCount; slot++) {
    const block = order[slot]
    if (block >= blockCount || seen[block]) {
      throw new ImageFormatError('corrupt', 'block map is not a permutation of the blocks')
    }
    seen[block] = 1
  }
}

function writeUint64(view: DataView, at: number, value: number) {
  view.setUint32(at, value % 2 ** 32, true)
  view.setUint32(at + 4, Math.floor(value / 2 ** 32), true)
}

function readUint64(view: DataView, at: number): number {
  return view.getUint32(at + 4, true) * 2 ** 32 + view.getUint32(at, true)
}
