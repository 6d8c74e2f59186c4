/**
 * The builds of the import benchmark: a game-like folder of files of mixed sizes, filled with
 * seeded pseudo-random bytes (AES-256-CTR), the same on every machine for one seed and size.
 */
import { createCipheriv, createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, open } from 'node:fs/promises'
import { dirname, join } from 'node:path'

export const MiB = 2 ** 20
export const GiB = 2 ** 30

/** `256M`, `1G`, `1.5G`, `65536` -> bytes (binary units). */
export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([KMG]?)i?B?$/i.exec(text.trim())
  if (!match) throw new Error(`${text} is not a size (like 256M or 4G)`)
  const unit = { '': 1, K: 1024, M: MiB, G: GiB }[match[2].toUpperCase() as '' | 'K' | 'M' | 'G']
  return Math.round(Number(match[1]) * unit)
}

/** `268435456` -> `256M`, for folder names and table rows. */
export function sizeLabel(bytes: number): string {
  if (bytes % GiB === 0) return `${bytes / GiB}G`
  if (bytes % MiB === 0) return `${bytes / MiB}M`
  return String(bytes)
}

/**
 * A deterministic byte stream: AES-256-CTR over zeros, keyed by the seed and a label. Fast
 * (native), incompressible, and the same on every machine.
 */
function seededStream(seed: number, label: string) {
  const key = createHash('sha256').update(`rockit-bench-import/${seed}/${label}`).digest()
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16))
  return (length: number) => cipher.update(Buffer.alloc(length))
}

/** A seeded source of numbers in [0, 1). */
function seededRandom(seed: number, label: string): () => number {
  const bytes = seededStream(seed, label)
  return () => bytes(4).readUInt32LE(0) / 2 ** 32
}

/** A size between `low` and `high`, uniform in its logarithm (many small, few large). */
function logUniform(random: () => number, low: number, high: number): number {
  return Math.round(Math.exp(Math.log(low) + random() * (Math.log(high) - Math.log(low))))
}

/** One file of a generated build. */
export interface PlannedFile {
  path: string
  size: number
}

const smallFolders = ['scripts', 'config', 'shaders', 'locale', 'ui', 'maps/meta']
const smallKinds = ['lua', 'json', 'glsl', 'txt', 'xml', 'bin']
const mediumFolders = ['textures', 'audio', 'models', 'bin']
const mediumKinds = ['dds', 'ogg', 'mesh', 'so']

/**
 * The files of a game-like build with `dataBytes` of file data: about 70% in packs of 64 to
 * 448 MiB, 24% in files of 512 KiB to 24 MiB, the rest in small files of 64 B to 256 KiB (a
 * few thousand per GiB). The same seed and size give the same plan.
 */
export function planBuildFiles(dataBytes: number, seed: number): PlannedFile[] {
  const random = seededRandom(seed, `plan/${dataBytes}`)
  const files: PlannedFile[] = []
  let packBudget = Math.floor(dataBytes * 0.7)
  let mediumBudget = Math.floor(dataBytes * 0.24)
  let smallBudget = dataBytes - packBudget - mediumBudget

  for (let index = 0; packBudget > 0; index++) {
    let size = Math.min(logUniform(random, 96 * MiB, 448 * MiB), packBudget)
    if (packBudget - size < 64 * MiB) size = packBudget
    files.push({ path: `data/packs/pack-${String(index).padStart(3, '0')}.pak`, size })
    packBudget -= size
  }
  for (let index = 0; mediumBudget > 0; index++) {
    const kind = Math.floor(random() * mediumFolders.length)
    const size = Math.min(logUniform(random, 512 * 1024, 24 * MiB), mediumBudget)
    const name = `${mediumFolders[kind]}/set-${index % 16}/asset-${index}.${mediumKinds[kind]}`
    files.push({ path: name, size })
    mediumBudget -= size
  }
  for (let index = 0; smallBudget > 0; index++) {
    const kind = Math.floor(random() * smallFolders.length)
    const size = Math.min(logUniform(random, 64, 256 * 1024), smallBudget)
    const name = `${smallFolders[kind]}/group-${index % 32}/item-${index}.${smallKinds[kind]}`
    files.push({ path: name, size })
    smallBudget -= size
  }
  return files
}

/** Writes the planned files under `dir`, each with its own seeded bytes. */
export async function writeBuildFolder(dir: string, files: PlannedFile[], seed: number) {
  const chunk = 8 * MiB
  for (const file of files) {
    const target = join(dir, file.path)
    await mkdir(dirname(target), { recursive: true })
    const bytes = seededStream(seed, file.path)
    const handle = await open(target, 'w')
    try {
      for (let left = file.size; left > 0; left -= chunk) {
        await handle.write(bytes(Math.min(chunk, left)))
      }
    } finally {
      await handle.close()
    }
  }
}

/** SHA-256 of a file, lowercase hex. */
export async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const piece of createReadStream(path, { highWaterMark: 4 * MiB })) hash.update(piece)
  return hash.digest('hex')
}
