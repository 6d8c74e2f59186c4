import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { crc32, packHashes } from '../../src/engine/block-hash'
import {
  encodeImageHeader,
  IMAGE_FIXED_HEADER_BYTES,
  type ImageFile,
  ImageFormatError,
  imageHeaderLength,
  parseImageHeader,
} from '../../src/engine/dxf'
import { imageLayout, rebuildFiles, slotReader, writeImage } from '../../src/engine/dxf-stream'
import type { ScannedBlock } from '../../src/engine/tar-scan'
import {
  collect,
  readTree,
  referenceHash,
  rng,
  scanAll,
  tarDir,
  tempDir,
  writeBuildTree,
} from './tar-fixtures'

const BLOCK = 4096
let workDir: string
let buildDir: string
let tar: Uint8Array
let scan: Awaited<ReturnType<typeof scanAll>>

beforeAll(async () => {
  workDir = tempDir('dxf')
  buildDir = path.join(workDir, 'build')
  writeBuildTree(buildDir, BLOCK)
  tar = tarDir(buildDir, 'pax')
  scan = await scanAll(tar, BLOCK)
})
afterAll(() => {
  fs.rmSync(workDir, { recursive: true, force: true })
})

function shuffled(count: number, seed: number): Uint32Array {
  const random = rng(seed)
  const order = Uint32Array.from({ length: count }, (_, i) => i)
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[order[i], order[j]] = [order[j], order[i]]
  }
  return order
}

function blockFromTar(blocks: ScannedBlock[]) {
  return async (block: number) => {
    const { tarOffset, length } = blocks[block]
    return tar.slice(tarOffset, tarOffset + length)
  }
}

async function makeImage(order: Uint32Array, profile?: unknown) {
  const headerBytes = encodeImageHeader({
    blockSize: BLOCK,
    files: scan.files,
    blockHashes: scan.blocks.map((block) => block.hash),
    order,
    profile,
  })
  return { headerBytes, image: await collect(writeImage(headerBytes, blockFromTar(scan.blocks))) }
}

const reader = (bytes: Uint8Array) => async (offset: number, length: number) =>
  bytes.slice(offset, offset + length)

describe('dxf/1 images', () => {
  it('round-trips a real build in a random order, file for file', async () => {
    const order = shuffled(scan.blocks.length, 42)
    const profile = { bandwidths: [25e6, 100e6], preload: { median: [1024, 4096] } }
    const { headerBytes, image } = await makeImage(order, profile)

    // A launcher: the first 64 bytes say how much header to fetch, then it streams.
    const length = imageHeaderLength(image.subarray(0, IMAGE_FIXED_HEADER_BYTES))
    expect(length).toBe(headerBytes.length)
    const header = parseImageHeader(image.subarray(0, length))
    expect(header.version).toEqual({ major: 1, minor: 0 })
    expect(header.blockSize).toBe(BLOCK)
    expect(header.blockCount).toBe(scan.blocks.length)
    expect([...header.order]).toEqual([...order])
    expect(header.profile).toEqual(profile)
    const layout = imageLayout(header)
    expect(layout.totalBytes).toBe(image.length)
    expect(image.length).toBe(length + scan.totals.sizeBytes)

    const disk = readTree(buildDir)
    const seen = new Set<string>()
    for await (const { file, bytes } of rebuildFiles(header, slotReader(header, reader(image)))) {
      seen.add(file.path)
      const onDisk = disk.get(file.path)!
      if (file.kind === 'file')
        expect(Buffer.from(bytes).equals(onDisk.bytes!), file.path).toBe(true)
      else expect(bytes.length).toBe(0)
      if (onDisk.kind === 'symlink') expect(file.linkTarget).toBe(onDisk.target)
      const scanned = scan.files.find((f) => f.path === file.path)!
      expect(file).toEqual({
        path: scanned.path,
        kind: scanned.kind,
        size: scanned.size,
        mode: scanned.mode,
        mtimeSec: scanned.mtimeSec,
        firstBlock: scanned.firstBlock,
        blockCount: scanned.blockCount,
        ...(scanned.linkTarget === undefined ? {} : { linkTarget: scanned.linkTarget }),
      })
    }
    expect([...seen].sort()).toEqual([...disk.keys()].sort())
  })

  it('places each block where the layout says, and finds blocks from image offsets', async () => {
    const order = shuffled(scan.blocks.length, 7)
    const { image } = await makeImage(order)
    const header = parseImageHeader(image)
    const layout = imageLayout(header)
    let expectedOffset = header.headerLength
    for (let slot = 0; slot < order.length; slot++) {
      const block = scan.blocks[order[slot]]
      expect(layout.slotOffset(slot)).toBe(expectedOffset)
      expect(layout.slotLength(slot)).toBe(block.length)
      expect(layout.slotOfBlock(block.index)).toBe(slot)
      const bytes = image.subarray(expectedOffset, expectedOffset + block.length)
      expect(referenceHash(bytes)).toBe(block.hash)
      expect(layout.slotAt(expectedOffset)).toBe(slot)
      expect(layout.slotAt(expectedOffset + block.length - 1)).toBe(slot)
      expectedOffset += block.length
    }
    expect(layout.slotAt(header.headerLength - 1)).toBe(-1)
    expect(layout.slotAt(image.length)).toBe(-1)
  })

  it('holds sizes beyond 4 GiB and times before 1970', () => {
    const blockSize = 4 * 1024 * 1024
    const size = 5 * 2 ** 30 + 17
    const blockCount = Math.ceil(size / blockSize)
    const files: ImageFile[] = [
      {
        path: 'dir',
        kind: 'dir',
        size: 0,
        mode: 0o755,
        mtimeSec: -86_400,
        firstBlock: 0,
        blockCount: 0,
      },
      {
        path: 'dir/huge.pak',
        kind: 'file',
        size,
        mode: 0o644,
        mtimeSec: 2 ** 33,
        firstBlock: 0,
        blockCount,
      },
    ]
    const hashes = packHashes(
      Array.from({ length: blockCount }, (_, i) => referenceHash(new Uint8Array([i]))),
    )
    const header = parseImageHeader(
      encodeImageHeader({ blockSize, files, blockHashes: hashes, order: shuffled(blockCount, 3) }),
    )
    expect(header.files).toEqual(files)
    expect(header.dataLength).toBe(size)
    expect(imageLayout(header).totalBytes).toBe(header.headerLength + size)
    expect(header.blockLengths[blockCount - 1]).toBe(17)
  })

  it('refuses bad magic, an unknown major version, a cut header and a changed byte', async () => {
    const { headerBytes } = await makeImage(shuffled(scan.blocks.length, 1))
    const errorOf = (bytes: Uint8Array) => {
      try {
        parseImageHeader(bytes)
      } catch (error) {
        return error as ImageFormatError
      }
    }
    const badMagic = headerBytes.slice()
    badMagic[0] = 0x50
    expect(errorOf(badMagic)).toMatchObject({ code: 'badMagic' })
    expect(errorOf(badMagic)).toBeInstanceOf(ImageFormatError)
    const major2 = headerBytes.slice()
    major2[8] = 2
    expect(errorOf(major2)).toMatchObject({ code: 'badVersion' })
    expect(errorOf(headerBytes.subarray(0, 40))).toMatchObject({ code: 'truncated' })
    expect(errorOf(headerBytes.subarray(0, headerBytes.length - 1))).toMatchObject({
      code: 'truncated',
      needBytes: headerBytes.length,
    })
    const changed = headerBytes.slice()
    changed[IMAGE_FIXED_HEADER_BYTES + 40] ^= 0x20
    expect(errorOf(changed)).toMatchObject({ code: 'corrupt' })
    expect(errorOf(headerBytes)).toBeUndefined()
  })

  it('reads a newer minor version of the same major', async () => {
    const { headerBytes } = await makeImage(shuffled(scan.blocks.length, 2))
    const newer = headerBytes.slice()
    const view = new DataView(newer.buffer)
    view.setUint16(10, 3, true)
    view.setUint32(28, 0, true)
    view.setUint32(28, crc32(newer), true)
    expect(parseImageHeader(newer).version).toEqual({ major: 1, minor: 3 })
  })

  it('refuses an order that is not a permutation, and blocks that do not match', async () => {
    const order = shuffled(scan.blocks.length, 5)
    order[1] = order[0]
    expect(() =>
      encodeImageHeader({
        blockSize: BLOCK,
        files: scan.files,
        blockHashes: scan.blocks.map((b) => b.hash),
        order,
      }),
    ).toThrow(/permutation/)

    const { image } = await makeImage(shuffled(scan.blocks.length, 6))
    const header = parseImageHeader(image)
    const damaged = image.slice()
    damaged[imageLayout(header).slotOffset(3) + 10] ^= 0xff
    const rebuild = collect(
      (async function* () {
        for await (const { bytes } of rebuildFiles(header, slotReader(header, reader(damaged)))) {
          yield bytes
        }
      })(),
    )
    await expect(rebuild).rejects.toMatchObject({ code: 'hashMismatch' })

    const headerBytes = image.subarray(0, header.headerLength)
    const wrongBlock = async (block: number) =>
      blockFromTar(scan.blocks)((block + 1) % scan.blocks.length)
    await expect(collect(writeImage(headerBytes, wrongBlock))).rejects.toMatchObject({
      code: 'hashMismatch',
    })
  })
})
