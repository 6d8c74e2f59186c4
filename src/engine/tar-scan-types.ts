/**
 * What the tar scanner emits and saves: the file table entries, the blocks, warnings and the
 * JSON checkpoint it resumes from. The scanner itself is in `tar-scan.ts`.
 */
import type { PendingAttributes } from './tar-header'

/** A regular file being read, at a block boundary. */
export interface OpenFile {
  index: number
  path: string
  size: number
  tarDataOffset: number
  /** Offset in the file of the block being read. */
  fileOffset: number
}

/**
 * Where to go on from: plain JSON, small (no block data, no lists). Restarting a scanner from
 * it and reading the tar from `tarOffset` emits exactly what had not been emitted yet.
 */
export interface ScanCheckpoint {
  tarOffset: number
  phase: 'header' | 'data' | 'skip' | 'end'
  nextEntry: number
  nextBlock: number
  regularFiles: number
  sizeBytes: number
  zeroRecords: number
  skipBytes: number
  pending?: PendingAttributes
  file?: OpenFile
}

/** One entry of the build's file table. Directories and links have no blocks. */
export interface ScannedFile {
  index: number
  path: string
  kind: 'file' | 'dir' | 'symlink'
  size: number
  mode: number
  mtimeSec: number
  /** For a link: the target relative to the link's folder (hard links are rewritten so). */
  linkTarget?: string
  tarDataOffset: number
  firstBlock: number
  blockCount: number
}

/** One block: a `blockSize` piece of a regular file (the last one of a file may be short). */
export interface ScannedBlock {
  index: number
  fileIndex: number
  fileOffset: number
  length: number
  tarOffset: number
  /** Lowercase hex of the first 16 bytes of the SHA-256 of the block's bytes. */
  hash: string
}

/** Something in the tar the build leaves out, such as a device node or a fifo. */
export interface ScanWarning {
  code: 'skippedEntry' | 'loneZeroRecord'
  message: string
  path?: string
  offset: number
}

/** Totals of a finished scan; `files` counts regular files, `entries` the whole file table. */
export interface ScanTotals {
  files: number
  entries: number
  blocks: number
  sizeBytes: number
}
