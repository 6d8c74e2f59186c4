import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hashToHex, packHashes } from '../../src/engine/block-hash'
import { encodeImageHeader, parseImageHeader } from '../../src/engine/dxf'
import { writeImage } from '../../src/engine/dxf-stream'
import {
  applyPatch,
  encodePatchFixedHeader,
  encodePatchHeader,
  imageFixedFields,
  parsePatchHeader,
  writePatch,
} from '../../src/engine/patch'
import { carriedDataBytes, changedFilesBytes, planPatch } from '../../src/engine/patch-plan'
import { seededRng } from './engine-fixtures'
import {
  collect,
  readTree,
  referenceHash,
  rng,
  scanAll,
  seededBytes,
  tarDir,
  tempDir,
  writeBuildTree,
} from './tar-fixtures'

const BLOCK = 4096
let workDir: string

interface Build {
  dir: string
  tar: Uint8Array
  scan: Awaited<ReturnType<typeof scanAll>>
  hashes: string[]
  headerBytes: Uint8Array
  image: Uint8Array
}

beforeAll(() => {
  workDir = tempDir('patch')
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

async function imageOf(dir: string, orderSeed?: number): Promise<Build> {
  const tar = tarDir(dir, 'pax')
  const scan = await scanAll(tar, BLOCK)
  const hashes = scan.blocks.map((block) => block.hash)
  const count = hashes.length
  const order =
    orderSeed === undefined
      ? Uint32Array.from({ length: count }, (_, i) => i)
      : shuffled(count, orderSeed)
  const headerBytes = encodeImageHeader({
    blockSize: BLOCK,
    files: scan.files,
    blockHashes: hashes,
    order,
  })
  const blockBytes = async (block: number) => {
    const { tarOffset, length } = scan.blocks[block]
    return tar.slice(tarOffset, tarOffset + length)
  }
  const image = await collect(writeImage(headerBytes, blockBytes))
  return { dir, tar, scan, hashes, headerBytes, image }
}

async function makePatch(a: Build, b: Build) {
  const headerB = parseImageHeader(b.headerBytes)
  const plan = planPatch(a.hashes, b.hashes, headerB.order)
  const patchHeader = encodePatchHeader({
    from: parseImageHeader(a.headerBytes),
    toHeaderBytes: b.headerBytes,
    newBlocks: plan.newBlocks,
  })
  const blockBytesB = async (block: number) => {
    const { tarOffset, length } = b.scan.blocks[block]
    return b.tar.slice(tarOffset, tarOffset + length)
  }
  return { plan, patch: await collect(writePatch(patchHeader, blockBytesB)) }
}

const reader = (bytes: Uint8Array) => async (offset: number, length: number) =>
  bytes.slice(offset, offset + length)

/** Block contents of a folder's regular files, hashed by node:crypto from the files on disk. */
function diskBlocks(build: Build) {
  const disk = readTree(build.dir)
  const blocks: Array<{ hash: string; length: number }> = []
  for (const file of build.scan.files) {
    if (file.kind !== 'file') continue
    const bytes = disk.get(file.path)!.bytes!
    for (let at = 0; at < bytes.length; at += BLOCK) {
      const piece = bytes.subarray(at, at + BLOCK)
      blocks.push({ hash: referenceHash(piece), length: piece.length })
    }
  }
  return blocks
}

describe('patches between builds', () => {
  let a: Build
  let b: Build

  beforeAll(async () => {
    const dirA = path.join(workDir, 'a')
    const dirB = path.join(workDir, 'b')
    writeBuildTree(dirA, BLOCK)
    writeBuildTree(dirB, BLOCK)
    // B: one block of a file edited, a file grown, a file removed, new files (two with the
    // same content), and old content under a new name.
    const exact2 = fs.readFileSync(path.join(dirB, 'data/exact2.bin'))
    exact2[BLOCK + 10] ^= 0xff
    fs.writeFileSync(path.join(dirB, 'data/exact2.bin'), exact2)
    fs.appendFileSync(path.join(dirB, 'data/plus1.bin'), seededBytes(11, 3000))
    fs.rmSync(path.join(dirB, 'readme.txt'))
    fs.writeFileSync(path.join(dirB, 'data/new.pak'), seededBytes(12, 3 * BLOCK + 99))
    fs.writeFileSync(path.join(dirB, 'data/new-copy.pak'), seededBytes(12, 3 * BLOCK + 99))
    fs.copyFileSync(path.join(dirA, 'data/exact.bin'), path.join(dirB, 'data/moved.bin'))
    a = await imageOf(dirA)
    b = await imageOf(dirB, 99)
  })

  it("turns A's image into exactly B's image", async () => {
    const { plan, patch } = await makePatch(a, b)
    const rebuilt = await collect(applyPatch(reader(a.image), reader(patch)))
    expect(rebuilt.length).toBe(b.image.length)
    expect(Buffer.from(rebuilt).equals(Buffer.from(b.image))).toBe(true)

    // What the patch must carry, worked out from the files on disk.
    const inA = new Set(diskBlocks(a).map((block) => block.hash))
    const carried = new Map<string, number>()
    let reused = 0
    for (const block of diskBlocks(b)) {
      if (inA.has(block.hash)) reused++
      else carried.set(block.hash, block.length)
    }
    const carriedBytes = [...carried.values()].reduce((sum, length) => sum + length, 0)
    expect(plan.newBlocks).toHaveLength(carried.size)
    expect(plan.reusedBlocks).toBe(reused)
    expect(plan.repeatedBlocks).toBe(4)

    const parsed = parsePatchHeader(patch)
    expect(parsed.totalBytes).toBe(patch.length)
    expect(parsed.dataLength).toBe(carriedBytes)
    expect(patch.length).toBe(parsed.headerLength + carriedBytes)
    expect(patch.length).toBeLessThan(b.image.length / 2)
  })

  it('reports the bytes of changed files beside the patch size', async () => {
    const diskA = readTree(a.dir)
    const diskB = readTree(b.dir)
    let expected = 0
    for (const file of b.scan.files) {
      if (file.kind !== 'file') continue
      const old = a.scan.files.find((f) => f.path === file.path && f.kind === 'file')
      const same = old && diskA.get(old.path)!.bytes!.equals(diskB.get(file.path)!.bytes!)
      if (!same) expected += file.size
    }
    const changed = changedFilesBytes(a.scan.files, b.scan.files, a.hashes, b.hashes)
    expect(changed).toBe(expected)
    // exact2 (2 blocks), plus1 (grown), new, new-copy and moved.
    expect(changed).toBe(2 * BLOCK + (BLOCK + 1 + 3000) + 2 * (3 * BLOCK + 99) + BLOCK)
    const { patch } = await makePatch(a, b)
    expect(patch.length).toBeLessThan(changed)
  })

  it("writes the same patch header from B's fixed header alone", async () => {
    for (const [from, to] of [
      [a, b],
      [b, a],
      [a, await imageOf(a.dir, 3)],
    ]) {
      const headerB = parseImageHeader(to.headerBytes)
      const plan = planPatch(from.hashes, to.hashes, headerB.order)
      const whole = encodePatchHeader({
        from: parseImageHeader(from.headerBytes),
        toHeaderBytes: to.headerBytes,
        newBlocks: plan.newBlocks,
      })
      const fixedA = imageFixedFields(from.headerBytes.subarray(0, 64))
      const fixedB = imageFixedFields(to.headerBytes.subarray(0, 64))
      expect(fixedB).toEqual({
        blockSize: BLOCK,
        blockCount: headerB.blockCount,
        headerLength: headerB.headerLength,
        headerCrc32: headerB.headerCrc32,
      })
      const newBlockList = new Uint8Array(Uint32Array.from(plan.newBlocks).buffer)
      const dataLength = carriedDataBytes(to.scan.files, BLOCK, headerB.blockCount, plan.newBlocks)
      const fixed = encodePatchFixedHeader({ from: fixedA, to: fixedB, newBlockList, dataLength })
      const pieces = Buffer.concat([fixed, to.headerBytes, newBlockList])
      expect(pieces.equals(Buffer.from(whole))).toBe(true)
      expect(parsePatchHeader(pieces).dataLength).toBe(dataLength)
    }
  })

  it('refuses fixed headers and block lists that do not fit', () => {
    const fixedB = imageFixedFields(b.headerBytes)
    expect(() => imageFixedFields(b.headerBytes.subarray(0, 63))).toThrow()
    const notImage = b.headerBytes.slice(0, 64)
    notImage[0] ^= 1
    expect(() => imageFixedFields(notImage)).toThrow()
    expect(() =>
      encodePatchFixedHeader({
        from: fixedB,
        to: fixedB,
        newBlockList: new Uint8Array(6),
        dataLength: 0,
      }),
    ).toThrow(RangeError)
    const count = fixedB.blockCount
    expect(() => carriedDataBytes(b.scan.files, BLOCK, count, [count])).toThrow(RangeError)
    expect(carriedDataBytes(b.scan.files, BLOCK, count, [])).toBe(0)
  })

  it('refuses to apply a patch to another image', async () => {
    const { patch } = await makePatch(a, b)
    const other = await imageOf(a.dir, 5)
    await expect(collect(applyPatch(reader(other.image), reader(patch)))).rejects.toMatchObject({
      code: 'wrongBase',
    })
  })

  it('carries no blocks between two orders of the same build', async () => {
    const reordered = await imageOf(a.dir, 17)
    const { plan, patch } = await makePatch(a, reordered)
    expect(plan.newBlocks).toEqual([])
    expect(plan.reusedBlocks).toBe(a.hashes.length)
    const rebuilt = await collect(applyPatch(reader(a.image), reader(patch)))
    expect(Buffer.from(rebuilt).equals(Buffer.from(reordered.image))).toBe(true)
    expect(parsePatchHeader(patch).dataLength).toBe(0)
  })
})

/** The plan by its definition: hex strings in sets, B's blocks in slot order. */
function referencePlan(a: string[], b: string[], order: Uint32Array) {
  const inA = new Set(a)
  const carried = new Set<string>()
  const plan = { newBlocks: [] as number[], reusedBlocks: 0, repeatedBlocks: 0 }
  for (const block of order) {
    if (inA.has(b[block])) plan.reusedBlocks++
    else if (carried.has(b[block])) plan.repeatedBlocks++
    else {
      carried.add(b[block])
      plan.newBlocks.push(block)
    }
  }
  return plan
}

describe('planPatch on packed hashes', () => {
  it('plans what the definition says on random builds', () => {
    for (let seed = 1; seed <= 60; seed++) {
      const rng = seededRng(seed)
      // Few distinct contents, so repeats within B and between A and B are common.
      const contents = 1 + Math.floor(rng() * 300)
      const content = () =>
        Math.floor(rng() * contents)
          .toString(16)
          .padStart(32, '0')
      const a = Array.from({ length: Math.floor(rng() * 400) }, content)
      const b = Array.from({ length: Math.floor(rng() * 400) }, content)
      const order = shuffled(b.length, seed)
      const expected = referencePlan(a, b, order)
      const plan = planPatch(packHashes(a), packHashes(b), order)
      expect(plan, `seed ${seed}`).toEqual(expected)
      expect(planPatch(a, b, order), `seed ${seed}, hex`).toEqual(expected)
      const native = Uint32Array.from({ length: b.length }, (_, i) => i)
      expect(planPatch(packHashes(a), packHashes(b))).toEqual(referencePlan(a, b, native))
    }
  })

  it('carries everything from an empty build and nothing to an empty one', () => {
    const b = packHashes(['1'.repeat(32), '2'.repeat(32), '1'.repeat(32)])
    expect(planPatch(new Uint8Array(0), b)).toEqual({
      newBlocks: [0, 1],
      reusedBlocks: 0,
      repeatedBlocks: 1,
    })
    expect(planPatch(b, new Uint8Array(0))).toEqual({
      newBlocks: [],
      reusedBlocks: 0,
      repeatedBlocks: 0,
    })
    expect(hashToHex(b, 32)).toBe('1'.repeat(32))
  })

  it('refuses an order that does not fit B', () => {
    const b = packHashes(['1'.repeat(32), '2'.repeat(32)])
    expect(() => planPatch(b, b, Uint32Array.from([0]))).toThrow(RangeError)
    expect(() => planPatch(b, b, Uint32Array.from([0, 2]))).toThrow(RangeError)
    expect(() => planPatch(b, new Uint8Array(17))).toThrow(RangeError)
  })
})
