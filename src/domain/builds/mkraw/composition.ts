/**
 * An image or a patch as mkraw writes it: a header (computed once and kept in a work object, or
 * in several objects one after the other) followed by blocks of the build's tar in a listed
 * order. A step reads any byte range of such an object from R2 without ever holding the whole:
 * header bytes by range from the objects holding them, block bytes by range from the tar,
 * neighbouring tar ranges fetched together.
 */
import { type BlockGeometry, decodeBlockList, decodeGeometry } from './block-geometry'

/** Bytes `0 .. bytes - 1` of object `key`, as one piece of a header. */
export interface HeaderPart {
  key: string
  bytes: number
}

/** What a composed object is made of; small, so it rides in the task cursor. */
export interface Composition {
  headerKey: string
  /** Bytes of the whole header. */
  headerBytes: number
  /**
   * When set, the header is these pieces one after the other (a patch: its fixed header, the
   * target image's header, its block list), `headerBytes` in all; else `headerKey` holds it.
   */
  headerParts?: HeaderPart[]
  /** Block indices in object order (u32 little-endian). */
  listKey: string
  tarKey: string
  geometryKey: string
  blockSize: number
  blockCount: number
  totalBytes: number
}

/** Tar ranges closer than this are fetched as one range and the gap dropped (tar headers). */
const MAX_GAP_BYTES = 64 * 1024

/** A fetched run never spans more than this. */
const MAX_RUN_BYTES = 32 * 1024 * 1024

interface Piece {
  tarOffset: number
  length: number
  /** Where the bytes go in the output. */
  at: number
}

async function getBytes(bucket: R2Bucket, key: string, range?: R2Range): Promise<Uint8Array> {
  const object = await bucket.get(key, range ? { range } : undefined)
  if (!object) throw new Error(`object ${key} is missing`)
  return new Uint8Array(await object.arrayBuffer())
}

/** Reads byte ranges of a composed object. */
export class CompositionReader {
  /** R2 reads made so far: a Worker invocation has a budget of subrequests. */
  reads = 0

  private constructor(
    private readonly bucket: R2Bucket,
    readonly spec: Composition,
    private readonly geometry: BlockGeometry,
    private readonly list: Uint32Array,
    /** Offset of each list entry inside the block data, plus the total at the end. */
    private readonly starts: Float64Array,
  ) {}

  /** Loads the block list and the geometry of `spec` (a few bytes per block). */
  static async load(bucket: R2Bucket, spec: Composition): Promise<CompositionReader> {
    const geometry = decodeGeometry(
      await getBytes(bucket, spec.geometryKey),
      spec.blockSize,
      spec.blockCount,
    )
    const list = decodeBlockList(await getBytes(bucket, spec.listKey))
    const starts = new Float64Array(list.length + 1)
    let offset = 0
    for (let i = 0; i < list.length; i++) {
      starts[i] = offset
      offset += geometry.length[list[i]]
    }
    starts[list.length] = offset
    const partBytes = spec.headerParts?.reduce((sum, part) => sum + part.bytes, 0)
    if (
      spec.headerBytes + offset !== spec.totalBytes ||
      (partBytes !== undefined && partBytes !== spec.headerBytes)
    ) {
      throw new Error(`composition of ${spec.headerKey} does not add up to ${spec.totalBytes}`)
    }
    return new CompositionReader(bucket, spec, geometry, list, starts)
  }

  /**
   * Bytes `start .. end - 1` of the object; in the start of `into` when it is long enough, so
   * a step reading slice after slice reuses one buffer instead of leaving one per slice for
   * the garbage collector (valid until the next read into it).
   */
  async read(start: number, end: number, into?: Uint8Array): Promise<Uint8Array> {
    const { headerBytes, totalBytes } = this.spec
    if (!(start >= 0 && start <= end && end <= totalBytes)) {
      throw new RangeError(`range ${start}..${end} is outside ${totalBytes} bytes`)
    }
    const out =
      into && into.length >= end - start
        ? into.subarray(0, end - start)
        : new Uint8Array(end - start)
    if (start < headerBytes) await this.readHeader(start, Math.min(end, headerBytes), out)
    const dataStart = Math.max(start, headerBytes) - headerBytes
    const dataEnd = end - headerBytes
    if (dataEnd > dataStart) {
      await this.readPieces(this.piecesOf(dataStart, dataEnd, dataStart + headerBytes - start), out)
    }
    return out
  }

  /** Header bytes `start .. end - 1` into the start of `out`, from the objects holding them. */
  private async readHeader(start: number, end: number, out: Uint8Array) {
    const parts = this.spec.headerParts ?? [
      { key: this.spec.headerKey, bytes: this.spec.headerBytes },
    ]
    let partStart = 0
    for (const part of parts) {
      const from = Math.max(start, partStart)
      const to = Math.min(end, partStart + part.bytes)
      if (to > from) {
        this.reads++
        const bytes = await getBytes(this.bucket, part.key, {
          offset: from - partStart,
          length: to - from,
        })
        if (bytes.length !== to - from) throw new Error(`object ${part.key} is too short`)
        out.set(bytes, from - start)
      }
      partStart += part.bytes
    }
  }

  /** The tar ranges holding block data `from .. to - 1`, written to `out` from `at`. */
  private piecesOf(from: number, to: number, at: number): Piece[] {
    const { starts, list, geometry } = this
    let low = 0
    let high = list.length - 1
    while (low < high) {
      const mid = (low + high + 1) >>> 1
      if (starts[mid] <= from) low = mid
      else high = mid - 1
    }
    const pieces: Piece[] = []
    for (let i = low; i < list.length && starts[i] < to; i++) {
      const block = list[i]
      const skip = Math.max(from, starts[i]) - starts[i]
      const length = Math.min(to, starts[i + 1]) - starts[i] - skip
      if (length <= 0) continue
      pieces.push({ tarOffset: geometry.tarOffset[block] + skip, length, at })
      at += length
    }
    return pieces
  }

  private async readPieces(pieces: Piece[], out: Uint8Array) {
    let i = 0
    while (i < pieces.length) {
      const first = pieces[i]
      let runEnd = first.tarOffset + first.length
      let j = i + 1
      while (j < pieces.length) {
        const next = pieces[j]
        const gap = next.tarOffset - runEnd
        const span = next.tarOffset + next.length - first.tarOffset
        if (gap < 0 || gap > MAX_GAP_BYTES || span > MAX_RUN_BYTES) break
        runEnd = next.tarOffset + next.length
        j++
      }
      this.reads++
      await this.streamRun(pieces.slice(i, j), first.tarOffset, runEnd, out)
      i = j
    }
  }

  /**
   * Streams tar bytes `from .. to - 1` and copies each piece's part of every chunk into `out`
   * as it arrives: the gaps (tar headers, padding) are dropped and no buffer of the whole run
   * is made.
   */
  private async streamRun(pieces: Piece[], from: number, to: number, out: Uint8Array) {
    const { tarKey } = this.spec
    const object = await this.bucket.get(tarKey, { range: { offset: from, length: to - from } })
    if (!object) throw new Error(`object ${tarKey} is missing`)
    const reader = object.body.getReader()
    let at = from
    let next = 0
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      const chunkEnd = at + value.length
      for (let k = next; k < pieces.length && pieces[k].tarOffset < chunkEnd; k++) {
        const piece = pieces[k]
        const lo = Math.max(at, piece.tarOffset)
        const hi = Math.min(chunkEnd, piece.tarOffset + piece.length)
        if (hi > lo) out.set(value.subarray(lo - at, hi - at), piece.at + lo - piece.tarOffset)
        if (piece.tarOffset + piece.length <= chunkEnd) next = k + 1
      }
      at = chunkEnd
    }
    if (at !== to) throw new Error(`tar ${tarKey} is shorter than its file table says`)
  }
}
