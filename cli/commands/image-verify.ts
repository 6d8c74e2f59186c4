/**
 * Checking a rebuilt folder against the build it came from, byte for byte: either the build's
 * folder or its tar (read with the engine's tar scanner, the reader the service uses).
 */
import { createReadStream } from 'node:fs'
import { type FileHandle, lstat, open, readdir, readlink, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { ImageFile } from '../../src/engine/dxf'
import { type ScannedFile, TarScanner } from '../../src/engine/tar-scan'

/** What a comparison found equal. */
export interface VerifyReport {
  files: number
  bytes: number
  folders: number
  symlinks: number
}

/** One entry of the reference: its kind, size, link target and where its bytes are. */
interface ReferenceEntry {
  kind: 'file' | 'dir' | 'symlink'
  size: number
  linkTarget?: string
  /** Reads `length` bytes of the entry's data at `offset`. */
  source: { path: string; offset: number }
}

const COMPARE_BYTES = 1 << 20

/** Walks a build folder the way `rockit build pack` does. */
async function folderEntries(root: string): Promise<Map<string, ReferenceEntry>> {
  const entries = new Map<string, ReferenceEntry>()
  async function walk(folder: string, prefix: string): Promise<void> {
    for (const name of await readdir(folder)) {
      const absolute = join(folder, name)
      const path = prefix + name
      const info = await lstat(absolute)
      if (info.isDirectory()) {
        entries.set(path, { kind: 'dir', size: 0, source: { path: absolute, offset: 0 } })
        await walk(absolute, `${path}/`)
      } else if (info.isSymbolicLink()) {
        const linkTarget = await readlink(absolute)
        entries.set(path, {
          kind: 'symlink',
          size: 0,
          linkTarget,
          source: { path: absolute, offset: 0 },
        })
      } else if (info.isFile()) {
        entries.set(path, { kind: 'file', size: info.size, source: { path: absolute, offset: 0 } })
      }
    }
  }
  await walk(root, '')
  return entries
}

/** Scans a build tar for its file table (data offsets included). */
async function tarEntries(tar: string, blockSize: number): Promise<Map<string, ReferenceEntry>> {
  const scanner = new TarScanner({ blockSize })
  const scanned: ScannedFile[] = []
  for await (const chunk of createReadStream(tar, { highWaterMark: 4 << 20 })) {
    const { files } = await scanner.push(new Uint8Array(chunk as Buffer))
    scanned.push(...files)
  }
  scanner.finish()
  const entries = new Map<string, ReferenceEntry>()
  for (const file of scanned) {
    entries.set(file.path, {
      kind: file.kind,
      size: file.size,
      linkTarget: file.linkTarget,
      source: { path: tar, offset: file.tarDataOffset },
    })
  }
  return entries
}

/** Throws at the first byte where two ranges differ. */
async function compareBytes(
  path: string,
  rebuilt: FileHandle,
  reference: FileHandle,
  offset: number,
  size: number,
): Promise<void> {
  const ours = Buffer.alloc(Math.min(COMPARE_BYTES, size))
  const theirs = Buffer.alloc(ours.length)
  for (let at = 0; at < size; at += ours.length) {
    const length = Math.min(ours.length, size - at)
    await rebuilt.read(ours, 0, length, at)
    await reference.read(theirs, 0, length, offset + at)
    if (!ours.subarray(0, length).equals(theirs.subarray(0, length))) {
      let i = 0
      while (ours[i] === theirs[i]) i++
      throw new Error(`${path} differs from the build at byte ${at + i}`)
    }
  }
}

/**
 * Compares the folder an image was rebuilt into with the build it was made from (a folder or
 * its tar): the same entries, kinds, sizes and link targets, and every file byte for byte.
 * Throws with the first difference.
 *
 * @example await verifyRebuild('out', header.files, 'game.tar', header.blockSize)
 */
export async function verifyRebuild(
  outDir: string,
  files: readonly ImageFile[],
  reference: string,
  blockSize: number,
): Promise<VerifyReport> {
  const info = await stat(reference).catch(() => {
    throw new Error(`${reference} does not exist`)
  })
  const entries = info.isDirectory()
    ? await folderEntries(reference)
    : await tarEntries(reference, blockSize)
  const report: VerifyReport = { files: 0, bytes: 0, folders: 0, symlinks: 0 }
  const seen = new Set<string>()
  for (const file of files) {
    seen.add(file.path)
    const expected = entries.get(file.path)
    if (!expected) throw new Error(`${file.path} is in the image but not in ${reference}`)
    if (expected.kind !== file.kind) {
      throw new Error(
        `${file.path} is a ${file.kind} in the image, a ${expected.kind} in the build`,
      )
    }
    const path = join(outDir, file.path)
    if (file.kind === 'dir') {
      if (!(await lstat(path)).isDirectory()) throw new Error(`${path} is not a folder`)
      report.folders++
    } else if (file.kind === 'symlink') {
      const target = await readlink(path)
      if (target !== expected.linkTarget) {
        throw new Error(`${file.path} links to ${target}, the build to ${expected.linkTarget}`)
      }
      report.symlinks++
    } else {
      const size = (await lstat(path)).size
      if (size !== expected.size) {
        throw new Error(`${file.path} has ${size} bytes, the build ${expected.size}`)
      }
      const rebuilt = await open(path, 'r')
      const source = await open(expected.source.path, 'r')
      try {
        await compareBytes(file.path, rebuilt, source, expected.source.offset, size)
      } finally {
        await rebuilt.close()
        await source.close()
      }
      report.files++
      report.bytes += size
    }
  }
  const extra = [...entries.keys()].filter((path) => !seen.has(path))
  if (extra.length > 0) {
    throw new Error(`${extra.length} entries of ${reference} are not in the image: ${extra[0]} ...`)
  }
  return report
}
