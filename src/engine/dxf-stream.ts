/**
 * Reading and writing the block data of a `dxf/1` image: where each slot sits, writing an
 * image slot by slot, and rebuilding the build's files from an image with every block checked
 * against its hash.
 */
import { hashBlock } from './block-hash'
import {
  type ImageFile,
  ImageFormatError,
  imageBlockHash,
  type ParsedImageHeader,
  parseImageHeader,
} from './dxf'

/** Reads `length` bytes of an object at `offset` (a range request, a file read, a slice). */
export type ByteReader = (offset: number, length: number) => Promise<Uint8Array>

/** Where the slots of an image are. Offsets are float64: exact up to 2^53 bytes. */
export interface ImageLayout {
  /** Offset of the first byte of block data (= the header length). */
  dataOffset: number
  /** Size of the whole image in bytes. */
  totalBytes: number
  slotOffset(slot: number): number
  slotLength(slot: number): number
  slotOfBlock(block: number): number
  /** The slot holding image byte `offset`, or -1 outside the block data. */
  slotAt(offset: number): number
}

/**
 * Computes where each slot of an image sits.
 *
 * @example imageLayout(header).slotOffset(0) === header.headerLength
 */
export function imageLayout(header: ParsedImageHeader): ImageLayout {
  const { order, blockLengths, headerLength } = header
  const starts = new Float64Array(order.length + 1)
  const slotOf = new Uint32Array(order.length)
  let at = headerLength
  for (let slot = 0; slot < order.length; slot++) {
    starts[slot] = at
    slotOf[order[slot]] = slot
    at += blockLengths[order[slot]]
  }
  starts[order.length] = at
  const checkSlot = (slot: number) => {
    if (!(slot >= 0 && slot < order.length)) throw new RangeError(`no slot ${slot} in the image`)
    return slot
  }
  return {
    dataOffset: headerLength,
    totalBytes: at,
    slotOffset: (slot) => starts[checkSlot(slot)],
    slotLength: (slot) => blockLengths[order[checkSlot(slot)]],
    slotOfBlock: (block) => {
      if (!(block >= 0 && block < order.length)) throw new RangeError(`no block ${block}`)
      return slotOf[block]
    },
    slotAt: (offset) => {
      if (!(offset >= headerLength && offset < at)) return -1
      let low = 0
      let high = order.length - 1
      while (low < high) {
        const mid = (low + high + 1) >>> 1
        if (starts[mid] <= offset) low = mid
        else high = mid - 1
      }
      return low
    },
  }
}

/** Turns a byte reader over a whole image into a reader of its slots. */
export function slotReader(header: ParsedImageHeader, read: ByteReader) {
  const layout = imageLayout(header)
  return (slot: number) => read(layout.slotOffset(slot), layout.slotLength(slot))
}

/** Throws unless `bytes` are block `block` of the image: right length and hash. */
export async function verifyBlock(header: ParsedImageHeader, block: number, bytes: Uint8Array) {
  const expected = header.blockLengths[block]
  if (bytes.length !== expected) {
    throw new ImageFormatError(
      'hashMismatch',
      `block ${block} has ${bytes.length} bytes, expected ${expected}`,
    )
  }
  if ((await hashBlock(bytes)) !== imageBlockHash(header, block)) {
    throw new ImageFormatError('hashMismatch', `block ${block} does not match its hash`)
  }
}

/**
 * Streams a whole image: the header bytes, then each slot's block in image order, each block
 * checked against its hash before it leaves.
 */
export async function* writeImage(
  headerBytes: Uint8Array,
  blockBytes: (block: number) => Promise<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  const header = parseImageHeader(headerBytes)
  yield headerBytes.subarray(0, header.headerLength)
  for (const block of header.order) {
    const bytes = await blockBytes(block)
    await verifyBlock(header, block, bytes)
    yield bytes
  }
}

/** One piece of a rebuilt file: `bytes` belong at `offset` of `file`. */
export interface FilePiece {
  file: ImageFile
  offset: number
  bytes: Uint8Array
}

/**
 * Yields the files of an image in file-table order as block-sized pieces (a folder, link or
 * empty file yields one empty piece), reading each block from its slot and checking its hash.
 */
export async function* readFilePieces(
  header: ParsedImageHeader,
  readSlot: (slot: number) => Promise<Uint8Array>,
): AsyncGenerator<FilePiece> {
  const layout = imageLayout(header)
  for (const file of header.files) {
    if (file.blockCount === 0) yield { file, offset: 0, bytes: new Uint8Array(0) }
    for (let k = 0; k < file.blockCount; k++) {
      const block = file.firstBlock + k
      const bytes = await readSlot(layout.slotOfBlock(block))
      await verifyBlock(header, block, bytes)
      yield { file, offset: k * header.blockSize, bytes }
    }
  }
}

/**
 * Yields each file of an image whole, checking every block. Holds one file in memory: meant
 * for tests and the CLI, not for Worker steps.
 */
export async function* rebuildFiles(
  header: ParsedImageHeader,
  readSlot: (slot: number) => Promise<Uint8Array>,
): AsyncGenerator<{ file: ImageFile; bytes: Uint8Array }> {
  let current: { file: ImageFile; bytes: Uint8Array } | undefined
  for await (const piece of readFilePieces(header, readSlot)) {
    if (current?.file !== piece.file) {
      if (current) yield current
      current = { file: piece.file, bytes: new Uint8Array(piece.file.size) }
    }
    current.bytes.set(piece.bytes, piece.offset)
  }
  if (current) yield current
}
