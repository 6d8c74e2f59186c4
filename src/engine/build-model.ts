/**
 * The build as the training engine sees it: regular files in tar order, each cut into
 * `blockSize` pieces with a global block index. The tar scanner produces the file list; the
 * engine only needs sizes and block numbering.
 */

/** A regular file of a build: its blocks are `firstBlock .. firstBlock + blockCount - 1`. */
export interface BuildFile {
  path: string
  size: number
  firstBlock: number
  blockCount: number
}

/** A build's files and block numbering (see {@link buildModel}). */
export interface BuildModel {
  blockSize: number
  /** Regular files in tar order; global block index = firstBlock + floor(offset / blockSize). */
  files: BuildFile[]
  blockCount: number
  /** Bytes in `block`: `blockSize` except for the last piece of a file. */
  blockLength(block: number): number
}

/** Lookups derived from a model, built once per model and shared by the engine's modules. */
export interface ModelIndex {
  /** File index (into `model.files`) of each block. */
  fileOfBlock: Uint32Array
  /** File index by path. */
  fileByPath: Map<string, number>
  /** Sum of all file sizes: the size of an image's block data. */
  totalBytes: number
}

const indexes = new WeakMap<BuildModel, ModelIndex>()

function indexFiles(blockSize: number, files: BuildFile[]): ModelIndex {
  let blockCount = 0
  let totalBytes = 0
  const fileByPath = new Map<string, number>()
  files.forEach((file, i) => {
    if (file.firstBlock !== blockCount) {
      throw new RangeError(
        `file ${file.path}: firstBlock ${file.firstBlock}, expected ${blockCount}`,
      )
    }
    if (file.blockCount !== Math.ceil(file.size / blockSize)) {
      throw new RangeError(`file ${file.path}: ${file.blockCount} blocks for ${file.size} bytes`)
    }
    if (fileByPath.has(file.path)) throw new RangeError(`file ${file.path} listed twice`)
    fileByPath.set(file.path, i)
    blockCount += file.blockCount
    totalBytes += file.size
  })

  const fileOfBlock = new Uint32Array(blockCount)
  files.forEach((file, i) => {
    fileOfBlock.fill(i, file.firstBlock, file.firstBlock + file.blockCount)
  })
  return { fileOfBlock, fileByPath, totalBytes }
}

/**
 * Makes a model from a block size and the files in tar order, checking that the block
 * numbering is contiguous and matches the sizes.
 *
 * @example
 * const model = buildModel(65536, [{ path: 'a.pak', size: 70000, firstBlock: 0, blockCount: 2 }])
 * model.blockLength(1) // 4464
 */
export function buildModel(blockSize: number, files: BuildFile[]): BuildModel {
  if (!Number.isInteger(blockSize) || blockSize < 1) {
    throw new RangeError(`block size ${blockSize} is not a positive integer`)
  }
  const index = indexFiles(blockSize, files)
  const { fileOfBlock } = index
  const model: BuildModel = {
    blockSize,
    files,
    blockCount: fileOfBlock.length,
    blockLength(block: number): number {
      const file = files[fileOfBlock[block]]
      if (file === undefined || block < 0 || block >= fileOfBlock.length) {
        throw new RangeError(`block ${block} is not in the build`)
      }
      const last = file.firstBlock + file.blockCount - 1
      return block < last ? blockSize : file.size - (file.blockCount - 1) * blockSize
    },
  }
  indexes.set(model, index)
  return model
}

/** The lookups of a model; models not made by {@link buildModel} are indexed on first use. */
export function modelIndex(model: BuildModel): ModelIndex {
  let index = indexes.get(model)
  if (!index) {
    index = indexFiles(model.blockSize, model.files)
    indexes.set(model, index)
  }
  return index
}

/** Length of every block as one array, for loops that touch all blocks. */
export function blockLengths(model: BuildModel): Uint32Array {
  const lengths = new Uint32Array(model.blockCount).fill(model.blockSize)
  for (const file of model.files) {
    if (file.blockCount > 0) {
      lengths[file.firstBlock + file.blockCount - 1] =
        file.size - (file.blockCount - 1) * model.blockSize
    }
  }
  return lengths
}
