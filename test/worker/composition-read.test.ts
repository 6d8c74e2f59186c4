import { describe, expect, it } from 'vitest'
import { encodeBlockList, encodeGeometry } from '../../src/domain/builds/mkraw/block-geometry'
import { type Composition, CompositionReader } from '../../src/domain/builds/mkraw/composition'
import { type ScannedFile, TarScanner } from '../../src/engine/tar-scan'
import { makeTar, seededBytes } from './tar-fixture'

const BLOCK = 4096

/** A seeded generator of numbers in [0, 1). */
function rng(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    return state / 2 ** 32
  }
}

/** An R2 stand-in whose bodies arrive in chunks of `chunk` bytes, as a network delivers them. */
function chunkedBucket(objects: Map<string, Uint8Array>, chunk: number) {
  const bucket = {
    gets: 0,
    async get(key: string, options?: { range?: { offset: number; length: number } }) {
      bucket.gets++
      const whole = objects.get(key)
      if (!whole) return null
      const { offset = 0, length = whole.length - offset } = options?.range ?? {}
      const bytes = whole.slice(offset, offset + length)
      let at = 0
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (at >= bytes.length) return controller.close()
          controller.enqueue(bytes.slice(at, at + chunk))
          at += chunk
        },
      })
      return { body, arrayBuffer: async () => bytes.slice().buffer }
    },
  }
  return bucket
}

async function scan(tar: Uint8Array): Promise<ScannedFile[]> {
  const scanner = new TarScanner({ blockSize: BLOCK })
  const files: ScannedFile[] = []
  for (let at = 0; at < tar.length; at += 10_000) {
    files.push(...(await scanner.push(tar.subarray(at, at + 10_000))).files)
  }
  return files
}

describe('CompositionReader', () => {
  it('reads any range, streamed in awkward chunks, into a reused buffer or a new one', async () => {
    const random = rng(5)
    const entries = [
      { path: 'game', type: 'dir' as const },
      { path: 'game/data', type: 'dir' as const },
      ...Array.from({ length: 12 }, (_, i) => ({
        path: `game/data/f${i}.bin`,
        data: seededBytes(i + 1, Math.floor(random() * 5 * BLOCK) + (i % 3 === 0 ? 0 : 1)),
      })),
    ]
    const tar = makeTar(entries)
    const files = await scan(tar)
    const regular = files.filter((file) => file.kind === 'file')
    const blockCount = regular.reduce((sum, file) => sum + file.blockCount, 0)
    // A shuffled order: neighbouring blocks come from all over the tar.
    const order = Array.from({ length: blockCount }, (_, block) => block)
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1))
      ;[order[i], order[j]] = [order[j], order[i]]
    }
    const header = seededBytes(99, 3000)
    const blockBytes = (block: number) => {
      const file = regular.find(
        (f) => block >= f.firstBlock && block < f.firstBlock + f.blockCount,
      )!
      const skip = (block - file.firstBlock) * BLOCK
      const length = Math.min(BLOCK, file.size - skip)
      return tar.subarray(file.tarDataOffset + skip, file.tarDataOffset + skip + length)
    }
    const expected = Buffer.concat([header, ...order.map(blockBytes)])
    const objects = new Map<string, Uint8Array>([
      ['header', header],
      ['list', encodeBlockList(order)],
      ['tar', tar],
      ['geometry', encodeGeometry(files)],
    ])
    const spec: Composition = {
      headerKey: 'header',
      headerBytes: header.length,
      listKey: 'list',
      tarKey: 'tar',
      geometryKey: 'geometry',
      blockSize: BLOCK,
      blockCount,
      totalBytes: expected.length,
    }
    for (const chunk of [1, 7, 512, 4093, 1 << 20]) {
      const bucket = chunkedBucket(objects, chunk)
      const reader = await CompositionReader.load(bucket as unknown as R2Bucket, spec)
      const reused = new Uint8Array(20_000)
      for (let round = 0; round < 30; round++) {
        const start = Math.floor(random() * expected.length)
        const end = Math.min(expected.length, start + Math.floor(random() * 19_000))
        const into = round % 2 === 0 ? reused : undefined
        const got = await reader.read(start, end, into)
        expect(Buffer.from(got).equals(expected.subarray(start, end)), `${chunk}: ${start}`).toBe(
          true,
        )
        if (into && end > start) expect(got.buffer).toBe(reused.buffer)
      }
      const whole = await reader.read(0, expected.length)
      expect(Buffer.from(whole).equals(expected)).toBe(true)
    }
  })

  it('refuses a tar shorter than its file table says', async () => {
    const tar = makeTar([{ path: 'game/a.bin', data: seededBytes(1, 3 * BLOCK) }])
    const files = await scan(tar)
    const objects = new Map<string, Uint8Array>([
      ['header', new Uint8Array(10)],
      ['list', encodeBlockList([0, 1, 2])],
      ['tar', tar.subarray(0, 512 + 2 * BLOCK)],
      ['geometry', encodeGeometry(files)],
    ])
    const spec: Composition = {
      headerKey: 'header',
      headerBytes: 10,
      listKey: 'list',
      tarKey: 'tar',
      geometryKey: 'geometry',
      blockSize: BLOCK,
      blockCount: 3,
      totalBytes: 10 + 3 * BLOCK,
    }
    const bucket = chunkedBucket(objects, 1000)
    const reader = await CompositionReader.load(bucket as unknown as R2Bucket, spec)
    await expect(reader.read(0, spec.totalBytes)).rejects.toThrow(/shorter than its file table/)
  })
})
