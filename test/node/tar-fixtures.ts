/**
 * Real build folders and tars for the tar, image and patch tests: folders written to a temp
 * dir, tarred by /usr/bin/tar in each format, plus hand-made records for tars tar refuses to
 * write. Content is seeded, so a failure replays.
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {
  type ScannedBlock,
  type ScannedFile,
  type ScanWarning,
  TarScanner,
} from '../../src/engine/tar-scan'

export const TAR = '/usr/bin/tar'

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `rockit-${prefix}-`))
}

/** Runs a program and returns its stdout; throws with its stderr when it fails. */
export function run(program: string, args: string[], cwd?: string): Buffer {
  const result = spawnSync(program, args, { cwd, maxBuffer: 1 << 30 })
  if (result.status !== 0) {
    throw new Error(`${program} ${args.join(' ')} failed: ${result.stderr?.toString()}`)
  }
  return result.stdout
}

/** Tars the content of `dir` (entries named `./...`) in the given format, sorted by name. */
export function tarDir(dir: string, format: 'ustar' | 'pax' | 'gnu'): Uint8Array {
  return new Uint8Array(run(TAR, [`--format=${format}`, '--sort=name', '-cf', '-', '-C', dir, '.']))
}

/** Seeded pseudo-random bytes (xorshift32), so content is the same on every run. */
export function seededBytes(seed: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length)
  let state = seed >>> 0 || 1
  for (let i = 0; i < length; i++) {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    bytes[i] = state & 0xff
  }
  return bytes
}

/** A seeded PRNG giving floats in [0, 1). */
export function rng(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = Math.imul(state ^ (state >>> 15), state | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}

function write(root: string, relative: string, bytes: Uint8Array | string, mode = 0o644) {
  const target = path.join(root, relative)
  fs.mkdirSync(path.dirname(target), { recursive: true })
  fs.writeFileSync(target, bytes)
  fs.chmodSync(target, mode)
}

/** Names longer than ustar's 100-byte name field, and outside ASCII. */
export const LONG_NAME = `long/${'a'.repeat(120)}/file-${'b'.repeat(130)}.bin`
export const UNICODE_NAME = 'données/café-ñ-日本語.txt'
/** Fits ustar only by its prefix field (path > 100 bytes, last part short). */
export const PREFIX_NAME = `deep/${'c'.repeat(90)}/prefixed.bin`

/**
 * Writes a game-like build folder: text, an empty file, files of exactly one and two blocks,
 * one block plus a byte, a multi-block pack, an empty folder, an executable, a symlink inside
 * the build; with `portableOnly` false also names only pax and GNU can hold, and a hard link.
 */
export function writeBuildTree(root: string, blockSize: number, portableOnly = false) {
  write(root, 'readme.txt', 'Launch with bin/run.sh\n')
  write(root, 'empty.dat', new Uint8Array(0))
  write(root, 'data/exact.bin', seededBytes(1, blockSize))
  write(root, 'data/exact2.bin', seededBytes(2, 2 * blockSize))
  write(root, 'data/plus1.bin', seededBytes(3, blockSize + 1))
  write(root, 'data/big.pak', seededBytes(4, 5 * blockSize + 123))
  write(root, 'bin/run.sh', '#!/bin/sh\necho run\n', 0o755)
  write(root, PREFIX_NAME, seededBytes(5, 700))
  fs.mkdirSync(path.join(root, 'data/emptydir'), { recursive: true })
  fs.symlinkSync('../data/big.pak', path.join(root, 'bin/latest.pak'))
  if (!portableOnly) {
    write(root, LONG_NAME, seededBytes(6, blockSize * 2 + 5))
    write(root, UNICODE_NAME, 'bonjour\n')
    fs.linkSync(path.join(root, 'data/big.pak'), path.join(root, 'data/big-copy.pak'))
  }
}

/** What is on disk under `root`, by build path: kind, bytes or link target, mode, mtime. */
export function readTree(root: string) {
  const entries = new Map<
    string,
    {
      kind: 'file' | 'dir' | 'symlink'
      bytes?: Buffer
      target?: string
      mode: number
      mtimeSec: number
    }
  >()
  const walk = (relative: string) => {
    for (const name of fs.readdirSync(path.join(root, relative))) {
      const entry = relative ? `${relative}/${name}` : name
      const full = path.join(root, entry)
      const stat = fs.lstatSync(full)
      const common = { mode: stat.mode & 0o7777, mtimeSec: Math.floor(stat.mtimeMs / 1000) }
      if (stat.isSymbolicLink()) {
        entries.set(entry, { kind: 'symlink', target: fs.readlinkSync(full), ...common })
      } else if (stat.isDirectory()) {
        entries.set(entry, { kind: 'dir', ...common })
        walk(entry)
      } else if (stat.isFile()) {
        entries.set(entry, { kind: 'file', bytes: fs.readFileSync(full), ...common })
      }
    }
  }
  walk('')
  return entries
}

/** Lowercase hex of the first 16 bytes of SHA-256, computed by node:crypto (not the engine). */
export function referenceHash(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 32)
}

/** Everything one scan emitted. */
export interface ScanResult {
  files: ScannedFile[]
  blocks: ScannedBlock[]
  totals: ReturnType<TarScanner['finish']>
  warnings: ScanWarning[]
}

/** Scans a whole tar in chunks of `chunkSize` bytes with one scanner. */
export async function scanAll(tar: Uint8Array, blockSize: number, chunkSize = 1 << 20) {
  const scanner = new TarScanner({ blockSize })
  const files: ScannedFile[] = []
  const blocks: ScannedBlock[] = []
  for (let at = 0; at < tar.length; at += chunkSize) {
    const out = await scanner.push(tar.subarray(at, at + chunkSize))
    files.push(...out.files)
    blocks.push(...out.blocks)
  }
  const totals = scanner.finish()
  return { files, blocks, totals, warnings: [...scanner.warnings] } satisfies ScanResult
}

/** The error a scan of `tar` throws (from push or finish), or undefined when it succeeds. */
export async function scanError(tar: Uint8Array, blockSize = 4096, chunkSize = 1 << 20) {
  try {
    await scanAll(tar, blockSize, chunkSize)
    return undefined
  } catch (error) {
    return error as Error & Record<string, unknown>
  }
}

/** Fields of a hand-made tar header; numbers are written in octal. */
export interface RecordFields {
  name: string
  type?: string
  size?: number
  mode?: number
  mtime?: number
  linkName?: string
  magic?: 'ustar' | 'gnu'
}

/** A ustar header record with a correct checksum, for tars /usr/bin/tar will not write. */
export function tarRecord(fields: RecordFields): Uint8Array {
  const record = new Uint8Array(512)
  const text = (at: number, length: number, value: string) => {
    const bytes = new TextEncoder().encode(value)
    if (bytes.length > length) throw new Error(`field too long: ${value}`)
    record.set(bytes, at)
  }
  const octal = (at: number, length: number, value: number) =>
    text(at, length, value.toString(8).padStart(length - 1, '0'))
  text(0, 100, fields.name)
  octal(100, 8, fields.mode ?? 0o644)
  octal(108, 8, 1000)
  octal(116, 8, 1000)
  octal(124, 12, fields.size ?? 0)
  octal(136, 12, fields.mtime ?? 1_700_000_000)
  text(156, 1, fields.type ?? '0')
  text(157, 100, fields.linkName ?? '')
  if (fields.magic === 'gnu') text(257, 8, 'ustar  ')
  else {
    text(257, 6, 'ustar')
    text(263, 2, '00')
  }
  setChecksum(record)
  return record
}

/** Recomputes the checksum of a header record after it was edited. */
export function setChecksum(record: Uint8Array) {
  record.fill(0x20, 148, 156)
  const sum = record.reduce((total, byte) => total + byte, 0)
  record.set(new TextEncoder().encode(`${sum.toString(8).padStart(6, '0')}\0 `), 148)
}

/** A tar of hand-made entries, with data padded to records and the end-of-archive marker. */
export function craftTar(entries: Array<RecordFields & { data?: Uint8Array }>): Uint8Array {
  const parts: Uint8Array[] = []
  for (const entry of entries) {
    const data = entry.data ?? new Uint8Array(0)
    parts.push(tarRecord({ ...entry, size: entry.size ?? data.length }))
    parts.push(data, new Uint8Array((512 - (data.length % 512)) % 512))
  }
  parts.push(new Uint8Array(1024))
  return Buffer.concat(parts)
}

/** Concatenates what an async generator of byte chunks yields. */
export async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const chunk of chunks) parts.push(chunk)
  return new Uint8Array(Buffer.concat(parts))
}
