/**
 * A resumable tar scanner that turns a build (one uncompressed tar) into its file table and
 * block hashes. Fed consecutive chunks of any size; a checkpoint taken between two pushes lets
 * a later invocation go on from there, so a 100 GB build is scanned in many bounded steps.
 */
import { hashBlock } from './block-hash'
import { notATar, resolveEntry } from './tar-entry'
import {
  applyPaxRecords,
  checksumMatches,
  isZeroRecord,
  type PendingAttributes,
  parseHeader,
  readLongName,
  TAR_RECORD,
  TarScanError,
} from './tar-header'
import type {
  ScanCheckpoint,
  ScannedBlock,
  ScannedFile,
  ScanTotals,
  ScanWarning,
} from './tar-scan-types'

export { TarScanError, type TarScanErrorCode } from './tar-header'
export type {
  OpenFile,
  ScanCheckpoint,
  ScannedBlock,
  ScannedFile,
  ScanTotals,
  ScanWarning,
} from './tar-scan-types'

/** Largest block size a build may use (4 MiB): the scanner holds one block at most. */
export const MAX_BLOCK_SIZE = 4 * 1024 * 1024

/** Largest pax or GNU long-name entry accepted: they hold names, never file data. */
const MAX_META_BYTES = 1024 * 1024

/**
 * Hashes of one chunk computed at once, and their bytes at most: a runtime may copy what it
 * hashes, and the scanner promises to hold about one block beside the chunk.
 */
const HASHES_IN_FLIGHT = 16
const HASHED_BYTES_IN_FLIGHT = MAX_BLOCK_SIZE

/** Options of {@link TarScanner}; `checkpoint` resumes an earlier scan. */
export interface TarScannerOptions {
  blockSize: number
  checkpoint?: ScanCheckpoint
}

/** A pax or GNU long-name entry being read, and the clean point before its header. */
type MetaEntry = {
  type: string
  data: Uint8Array
  fill: number
  headerOffset: number
  clean: ScanCheckpoint
}

const padding = (size: number) => (TAR_RECORD - (size % TAR_RECORD)) % TAR_RECORD

/**
 * Scans a tar into files and blocks. After a throw the scanner is spent: go on from the last
 * saved checkpoint, which re-reads the bytes that caused it.
 *
 * @example
 * const scanner = new TarScanner({ blockSize: 65536, checkpoint: saved })
 * const { files, blocks } = await scanner.push(await readTar(saved.tarOffset, 64 << 20))
 * save(files, blocks, scanner.checkpoint())
 */
export class TarScanner {
  readonly blockSize: number
  private state: ScanCheckpoint
  private phase: ScanCheckpoint['phase'] | 'meta'
  private offset: number
  private pending: PendingAttributes
  private readonly header = new Uint8Array(TAR_RECORD)
  private headerFill = 0
  private block?: Uint8Array
  private blockFill = 0
  private meta?: MetaEntry
  private readonly warningList: ScanWarning[] = []

  constructor(options: TarScannerOptions) {
    const { blockSize, checkpoint } = options
    if (!Number.isInteger(blockSize) || blockSize < 1 || blockSize > MAX_BLOCK_SIZE) {
      throw new RangeError(`blockSize must be an integer from 1 to ${MAX_BLOCK_SIZE}`)
    }
    this.blockSize = blockSize
    this.state = checkpoint
      ? structuredClone(checkpoint)
      : {
          tarOffset: 0,
          phase: 'header',
          nextEntry: 0,
          nextBlock: 0,
          regularFiles: 0,
          sizeBytes: 0,
          zeroRecords: 0,
          skipBytes: 0,
        }
    if (!(Number.isSafeInteger(this.state.tarOffset) && this.state.tarOffset >= 0)) {
      throw new RangeError('checkpoint.tarOffset must be a non-negative integer')
    }
    this.phase = this.state.phase
    this.offset = this.state.tarOffset
    this.pending = this.state.pending ?? {}
  }

  /** True once the end-of-archive marker (two zero records) has been read. */
  get done(): boolean {
    return this.phase === 'end'
  }

  /** Entries left out of the build since this scanner was created. */
  get warnings(): readonly ScanWarning[] {
    return this.warningList
  }

  /** Feeds the next bytes of the tar; returns the files and blocks they completed. */
  async push(chunk: Uint8Array): Promise<{ files: ScannedFile[]; blocks: ScannedBlock[] }> {
    const files: ScannedFile[] = []
    const blocks: ScannedBlock[] = []
    const hashing: Array<Promise<void>> = []
    let hashingBytes = 0
    let at = 0
    while (at < chunk.length && this.phase !== 'end') {
      const available = chunk.length - at
      if (this.phase === 'header') {
        const take = Math.min(TAR_RECORD - this.headerFill, available)
        this.header.set(chunk.subarray(at, at + take), this.headerFill)
        this.headerFill += take
        this.offset += take
        at += take
        if (this.headerFill === TAR_RECORD) {
          this.headerFill = 0
          this.readHeader(this.offset - TAR_RECORD, files)
        }
      } else if (this.phase === 'skip') {
        const take = Math.min(this.state.skipBytes, available)
        this.state.skipBytes -= take
        this.offset += take
        at += take
        if (this.state.skipBytes === 0) this.phase = 'header'
      } else if (this.phase === 'meta') {
        const meta = this.meta!
        const take = Math.min(meta.data.length - meta.fill, available)
        meta.data.set(chunk.subarray(at, at + take), meta.fill)
        meta.fill += take
        this.offset += take
        at += take
        if (meta.fill === meta.data.length) this.endMeta()
      } else {
        const before = at
        at = await this.readData(chunk, at, blocks, hashing)
        hashingBytes += at - before
        if (hashing.length >= HASHES_IN_FLIGHT || hashingBytes >= HASHED_BYTES_IN_FLIGHT) {
          await Promise.all(hashing.splice(0))
          hashingBytes = 0
        }
      }
    }
    await Promise.all(hashing)
    return { files, blocks }
  }

  /**
   * The last clean point (a header or block boundary, or inside padding): everything before
   * it has been emitted and nothing after it. Call it between pushes, never during one.
   */
  checkpoint(): ScanCheckpoint {
    if (this.phase === 'meta') return structuredClone(this.meta!.clean)
    const checkpoint = structuredClone({ ...this.state, phase: this.phase })
    checkpoint.tarOffset = this.offset - this.headerFill - this.blockFill
    if (Object.keys(this.pending).length > 0) checkpoint.pending = { ...this.pending }
    else delete checkpoint.pending
    if (this.phase !== 'data') delete checkpoint.file
    return checkpoint
  }

  /** Call once the tar has no more bytes. Throws when it ended before its end marker. */
  finish(): ScanTotals {
    const totals = {
      files: this.state.regularFiles,
      entries: this.state.nextEntry,
      blocks: this.state.nextBlock,
      sizeBytes: this.state.sizeBytes,
    }
    if (this.phase === 'end') return totals
    if (this.phase === 'header' && this.offset === this.headerFill) {
      throw notATar(this.header.subarray(0, this.headerFill))
    }
    if (this.phase === 'header' && this.headerFill === 0 && this.state.zeroRecords === 1) {
      this.warn('loneZeroRecord', 'the tar ends after a single zero record', this.offset)
      return totals
    }
    const file = this.phase === 'data' ? this.state.file : undefined
    throw new TarScanError('truncated', `the tar ends early, at byte ${this.offset}`, {
      offset: this.offset,
      filename: file?.path,
    })
  }

  private warn(code: ScanWarning['code'], message: string, offset: number, path?: string) {
    this.warningList.push({ code, message, offset, path })
  }

  private startSkip(bytes: number) {
    this.state.skipBytes = bytes
    this.phase = bytes > 0 ? 'skip' : 'header'
  }

  private readHeader(headerOffset: number, files: ScannedFile[]) {
    const record = this.header
    if (isZeroRecord(record)) {
      this.state.zeroRecords++
      if (this.state.zeroRecords === 2) this.phase = 'end'
      return
    }
    if (!checksumMatches(record)) {
      if (headerOffset === 0) throw notATar(record)
      throw new TarScanError('badChecksum', `bad tar header checksum at byte ${headerOffset}`, {
        offset: headerOffset,
      })
    }
    if (this.state.zeroRecords > 0) {
      throw new TarScanError('badHeader', `an entry follows a zero record at ${headerOffset}`, {
        offset: headerOffset,
      })
    }
    const header = parseHeader(record, headerOffset)
    if (header.type === 'x' || header.type === 'L' || header.type === 'K') {
      this.startMeta(header.type, header.size, headerOffset)
      return
    }
    const entry = resolveEntry(header, this.pending, headerOffset)
    this.pending = {}
    const skip = entry.size + padding(entry.size)
    if (entry.action === 'skip') {
      if (entry.warning) this.warn('skippedEntry', entry.warning, headerOffset, entry.path)
      this.startSkip(skip)
      return
    }

    const isFile = entry.kind === 'file'
    const file: ScannedFile = {
      index: this.state.nextEntry++,
      path: entry.path,
      kind: entry.kind,
      size: isFile ? entry.size : 0,
      mode: entry.mode,
      mtimeSec: entry.mtimeSec,
      tarDataOffset: headerOffset + TAR_RECORD,
      firstBlock: this.state.nextBlock,
      blockCount: isFile ? Math.ceil(entry.size / this.blockSize) : 0,
    }
    if (entry.linkTarget !== undefined) file.linkTarget = entry.linkTarget
    files.push(file)
    if (isFile) {
      this.state.regularFiles++
      this.state.sizeBytes += entry.size
    }
    if (!isFile || entry.size === 0) {
      this.startSkip(skip)
      return
    }
    const { index, path, size, tarDataOffset } = file
    this.state.file = { index, path, size, tarDataOffset, fileOffset: 0 }
    this.phase = 'data'
  }

  private startMeta(type: string, size: number, headerOffset: number) {
    if (size > MAX_META_BYTES) {
      throw new TarScanError('badHeader', `oversized '${type}' entry at ${headerOffset}`, {
        offset: headerOffset,
      })
    }
    // The clean point stays before this header until the entry it describes is reached.
    this.phase = 'header'
    const clean = this.checkpoint()
    clean.tarOffset = headerOffset
    this.meta = { type, data: new Uint8Array(size), fill: 0, headerOffset, clean }
    this.phase = 'meta'
    if (size === 0) this.endMeta()
  }

  private endMeta() {
    const meta = this.meta!
    this.meta = undefined
    if (meta.type === 'x') applyPaxRecords(meta.data, this.pending, meta.headerOffset)
    else if (meta.type === 'L') this.pending.path = readLongName(meta.data)
    else this.pending.linkPath = readLongName(meta.data)
    this.startSkip(padding(meta.data.length))
  }

  /** Reads file data from `chunk` at `at` up to the end of one block; returns the new `at`. */
  private async readData(
    chunk: Uint8Array,
    at: number,
    blocks: ScannedBlock[],
    hashing: Array<Promise<void>>,
  ): Promise<number> {
    const file = this.state.file!
    const length = Math.min(this.blockSize, file.size - file.fileOffset)
    const record: ScannedBlock = {
      index: this.state.nextBlock,
      fileIndex: file.index,
      fileOffset: file.fileOffset,
      length,
      tarOffset: file.tarDataOffset + file.fileOffset,
      hash: '',
    }
    if (this.blockFill === 0 && chunk.length - at >= length) {
      // The whole block is in this chunk: hash it in place, without a copy.
      const bytes = chunk.subarray(at, at + length)
      hashing.push(
        hashBlock(bytes).then((hash) => {
          record.hash = hash
        }),
      )
      this.offset += length
      at += length
    } else {
      this.block ??= new Uint8Array(this.blockSize)
      const take = Math.min(length - this.blockFill, chunk.length - at)
      this.block.set(chunk.subarray(at, at + take), this.blockFill)
      this.blockFill += take
      this.offset += take
      at += take
      if (this.blockFill < length) return at
      record.hash = await hashBlock(this.block.subarray(0, length))
      this.blockFill = 0
    }

    blocks.push(record)
    this.state.nextBlock++
    file.fileOffset += length
    if (file.fileOffset === file.size) {
      this.state.file = undefined
      this.startSkip(padding(file.size))
    }
    return at
  }
}
