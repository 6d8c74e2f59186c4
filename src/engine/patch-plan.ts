/**
 * Planning a patch from build A to build B (format and application in patch.ts): which of B's
 * blocks must travel because A's image lacks their content, how many bytes they carry, and
 * how many bytes of changed files a file-level updater would fetch instead.
 */
import { BLOCK_HASH_BYTES, type BlockHashes, packedHashes, sameHash } from './block-hash'
import type { ImageFile } from './dxf'
import { BlockHashIndex, indexHashes } from './hash-index'

/** Which blocks of B a patch must carry. */
export interface PatchPlan {
  /** B block indices whose bytes travel in the patch, in B's image order, one per content. */
  newBlocks: number[]
  /** B blocks whose content A already has. */
  reusedBlocks: number
  /** B blocks whose content is new but equals an earlier new block of the patch. */
  repeatedBlocks: number
}

/**
 * Plans a patch from A to B by block hash. `orderB` (B's block map) sets the order of the new
 * blocks; without it they follow block index order. Hex hashes are packed first; packed ones
 * are used as they are. Memory past the hashes: an index of A (6 bytes per block), B's blocks
 * that A lacks (4 bytes each) and an index of those.
 */
export function planPatch(
  hashesA: BlockHashes,
  hashesB: BlockHashes,
  orderB?: Uint32Array,
): PatchPlan {
  const a = packedHashes(hashesA)
  const b = packedHashes(hashesB)
  const count = b.length / BLOCK_HASH_BYTES
  if (orderB && orderB.length !== count) {
    throw new RangeError(`an order of ${orderB.length} slots for ${count} blocks`)
  }
  const plan: PatchPlan = { newBlocks: [], reusedBlocks: 0, repeatedBlocks: 0 }
  const lacking = blocksLacking(indexHashes(a), b, count, orderB)
  plan.reusedBlocks = count - lacking.length
  const carried = new BlockHashIndex(b, lacking.length)
  for (const block of lacking) {
    if (carried.add(block) === -1) plan.newBlocks.push(block)
    else plan.repeatedBlocks++
  }
  return plan
}

/** B's blocks whose hash `known` (A's index) lacks, in slot order. */
function blocksLacking(
  known: BlockHashIndex,
  b: Uint8Array,
  count: number,
  orderB: Uint32Array | undefined,
): Uint32Array {
  let lacking = new Uint32Array(Math.min(count, 1024))
  let length = 0
  for (let slot = 0; slot < count; slot++) {
    const block = orderB ? orderB[slot] : slot
    if (!(block < count)) throw new RangeError(`no block ${block} in B`)
    if (known.find(b, block * BLOCK_HASH_BYTES) !== -1) continue
    if (length === lacking.length) {
      const grown = new Uint32Array(Math.min(count, lacking.length * 2))
      grown.set(lacking)
      lacking = grown
    }
    lacking[length++] = block
  }
  return lacking.subarray(0, length)
}

/**
 * Bytes of block data in `blocks` (block indices of a build with `blockCount` blocks), from the
 * build's file table; one byte per block of scratch, where a table of lengths takes four.
 */
export function carriedDataBytes(
  files: readonly Pick<ImageFile, 'kind' | 'size' | 'firstBlock' | 'blockCount'>[],
  blockSize: number,
  blockCount: number,
  blocks: ArrayLike<number>,
): number {
  const carried = new Uint8Array(blockCount)
  for (let i = 0; i < blocks.length; i++) {
    const block = blocks[i]
    if (!(Number.isInteger(block) && block >= 0 && block < blockCount)) {
      throw new RangeError(`no block ${block} among ${blockCount}`)
    }
    carried[block] = 1
  }
  let bytes = 0
  for (const file of files) {
    if (file.kind !== 'file') continue
    if (file.firstBlock + file.blockCount > blockCount) {
      throw new RangeError(`file blocks past the ${blockCount} of the build`)
    }
    for (let k = 0; k < file.blockCount; k++) {
      if (carried[file.firstBlock + k]) bytes += Math.min(blockSize, file.size - k * blockSize)
    }
  }
  return bytes
}

/**
 * Bytes of B's regular files that are new or differ from the file of the same path in A: the
 * size a file-level updater would download, reported beside the patch size.
 */
export function changedFilesBytes(
  filesA: readonly ImageFile[],
  filesB: readonly ImageFile[],
  hashesA: BlockHashes,
  hashesB: BlockHashes,
): number {
  const a = packedHashes(hashesA)
  const b = packedHashes(hashesB)
  const byPath = new Map(filesA.filter((f) => f.kind === 'file').map((f) => [f.path, f]))
  let changed = 0
  for (const file of filesB) {
    if (file.kind !== 'file') continue
    const old = byPath.get(file.path)
    let same = old !== undefined && old.size === file.size
    for (let k = 0; same && old && k < file.blockCount; k++) {
      same = sameHash(a, old.firstBlock + k, b, file.firstBlock + k)
    }
    if (!same) changed += file.size
  }
  return changed
}
