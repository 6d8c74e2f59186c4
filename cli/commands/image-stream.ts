/**
 * Streaming an image like a launcher: its block data in image order by ranged requests, each
 * block checked against its hash and written where it belongs in the build's files, so the
 * folder fills up in the order the image was made for.
 */
import { createHash } from 'node:crypto'
import { chmod, type FileHandle, mkdir, open, rm, symlink, utimes } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { ImageFile, ParsedImageHeader } from '../../src/engine/dxf'
import { imageLayout, verifyBlock } from '../../src/engine/dxf-stream'
import { checkSymlinkTarget, normaliseEntryPath } from '../../src/engine/tar-path'
import { type ImageSource, readImageHeader } from './image-source'

/** Options of {@link streamImage}. */
export interface StreamImageOptions {
  source: ImageSource
  /** The folder the build's files are written to (made when missing). */
  outDir: string
  /** Bytes per range request of block data. Default 8 MiB. */
  chunkBytes?: number
  /** The image's SHA-256 (lowercase hex) when the service gave one: checked at the end. */
  sha256?: string | null
  /** Also keep the image itself in this file. */
  saveImage?: string
  /** Image bytes received so far (header included) out of the image's size. */
  onProgress?: (received: number, total: number) => void
}

/** What a stream delivered. */
export interface StreamedImage {
  header: ParsedImageHeader
  /** Bytes of the whole image. */
  sizeBytes: number
  /** Range requests made (two of them for the header). */
  requests: number
  blocks: number
  files: number
  sha256: string
  seconds: number
}

/** Refuses a path from an image that could land outside the output folder. */
function safePath(file: ImageFile): string {
  if (normaliseEntryPath(file.path) !== file.path || file.path === '') {
    throw new Error(`the image holds an unsafe path ${JSON.stringify(file.path)}: refusing it`)
  }
  return file.path
}

/** A few files open at once, the least recently used closed first. */
class OpenFiles {
  private readonly handles = new Map<number, FileHandle>()

  constructor(
    private readonly paths: string[],
    private readonly limit = 32,
  ) {}

  async write(index: number, bytes: Uint8Array, position: number): Promise<void> {
    let handle = this.handles.get(index)
    if (handle) this.handles.delete(index)
    else {
      if (this.handles.size >= this.limit) {
        const [oldest, old] = this.handles.entries().next().value as [number, FileHandle]
        this.handles.delete(oldest)
        await old.close()
      }
      handle = await open(this.paths[index], 'r+')
    }
    this.handles.set(index, handle)
    await handle.write(bytes, 0, bytes.length, position)
  }

  async close(): Promise<void> {
    for (const handle of this.handles.values()) await handle.close()
    this.handles.clear()
  }
}

/** Makes the folders and empty files of the file table, each file at its final size. */
async function prepareFiles(header: ParsedImageHeader, outDir: string): Promise<string[]> {
  await mkdir(outDir, { recursive: true })
  const paths: string[] = []
  for (const [index, file] of header.files.entries()) {
    const path = join(outDir, safePath(file))
    paths[index] = path
    if (file.kind === 'dir') await mkdir(path, { recursive: true })
    else if (file.kind === 'file') {
      await mkdir(dirname(path), { recursive: true })
      await rm(path, { force: true })
      const handle = await open(path, 'w')
      await handle.truncate(file.size)
      await handle.close()
    }
  }
  return paths
}

/** Links, modes and times, once the data is in. */
async function finishFiles(header: ParsedImageHeader, paths: string[]): Promise<void> {
  for (const [index, file] of header.files.entries()) {
    const path = paths[index]
    if (file.kind === 'symlink') {
      const target = file.linkTarget ?? ''
      if (checkSymlinkTarget(file.path, target) === undefined) {
        throw new Error(`symlink ${file.path} -> ${target} leaves the build: refusing it`)
      }
      await mkdir(dirname(path), { recursive: true })
      await rm(path, { force: true, recursive: false }).catch(() => {})
      await symlink(target, path)
      continue
    }
    const mode = file.mode & 0o7777
    // A folder we could not enter any more would stop the rest of the rebuild.
    if (file.kind === 'file' || (mode & 0o700) === 0o700) await chmod(path, mode)
    if (file.kind === 'file') await utimes(path, file.mtimeSec, file.mtimeSec)
  }
}

/**
 * Streams a whole image into the build's files: one read for the fixed header, one for the
 * rest of it, then the block data in ranged chunks, fetching the next chunk while the current
 * one is checked and written. Throws on a block whose hash does not match, a cut-short image or
 * a wrong SHA-256.
 *
 * @example await streamImage({ source: httpImageSource(image.url), outDir: 'game' })
 */
export async function streamImage(opts: StreamImageOptions): Promise<StreamedImage> {
  const started = Date.now()
  const { source } = opts
  const { header, headerBytes } = await readImageHeader(source)
  const layout = imageLayout(header)
  const total = layout.totalBytes
  if (source.size !== undefined && source.size !== total) {
    throw new Error(`${source.where} holds ${source.size} bytes but its header says ${total}`)
  }
  let requests = headerBytes.length > 64 ? 2 : 1
  const digest = createHash('sha256').update(headerBytes)
  const saved = opts.saveImage ? await open(opts.saveImage, 'w') : undefined
  await saved?.write(headerBytes, 0, headerBytes.length, 0)
  opts.onProgress?.(headerBytes.length, total)

  const paths = await prepareFiles(header, opts.outDir)
  const fileOfBlock = new Uint32Array(header.blockCount)
  header.files.forEach((file, index) => {
    fileOfBlock.fill(index, file.firstBlock, file.firstBlock + file.blockCount)
  })
  const files = new OpenFiles(paths)
  const chunkBytes = opts.chunkBytes ?? 8 * 1024 * 1024

  const fetchChunk = (offset: number) => {
    requests++
    return source.read(offset, Math.min(chunkBytes, total - offset))
  }
  try {
    let slot = 0
    let carry = new Uint8Array(0)
    let next = layout.dataOffset < total ? fetchChunk(layout.dataOffset) : undefined
    for (let offset = layout.dataOffset; offset < total; offset += chunkBytes) {
      const chunk = await (next as Promise<Uint8Array>)
      next = offset + chunkBytes < total ? fetchChunk(offset + chunkBytes) : undefined
      // Keep the rejection of a prefetch from going unhandled while this chunk is written.
      next?.catch(() => {})
      digest.update(chunk)
      await saved?.write(chunk, 0, chunk.length, offset)

      let bytes = chunk
      if (carry.length > 0) {
        bytes = new Uint8Array(carry.length + chunk.length)
        bytes.set(carry)
        bytes.set(chunk, carry.length)
      }
      let at = 0
      while (slot < header.blockCount && bytes.length - at >= layout.slotLength(slot)) {
        const length = layout.slotLength(slot)
        const block = header.order[slot]
        const data = bytes.subarray(at, at + length)
        await verifyBlock(header, block, data)
        const file = header.files[fileOfBlock[block]]
        await files.write(fileOfBlock[block], data, (block - file.firstBlock) * header.blockSize)
        at += length
        slot++
      }
      carry = bytes.slice(at)
      opts.onProgress?.(offset + chunk.length, total)
    }
    if (slot !== header.blockCount) {
      throw new Error(`${source.where} ended after ${slot} of ${header.blockCount} blocks`)
    }
  } finally {
    await files.close()
    await saved?.close()
  }
  await finishFiles(header, paths)

  const sha256 = digest.digest('hex')
  if (opts.sha256 && opts.sha256 !== sha256) {
    throw new Error(
      `the image's SHA-256 is ${sha256}, the service announced ${opts.sha256}: fetch again`,
    )
  }
  return {
    header,
    sizeBytes: total,
    requests,
    blocks: header.blockCount,
    files: header.files.filter((file) => file.kind === 'file').length,
    sha256,
    seconds: (Date.now() - started) / 1000,
  }
}
