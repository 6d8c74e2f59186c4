/**
 * What training reads about a build from R2: its block model (from the file table mkraw wrote),
 * its block hashes, and the order of one of its images (from the image's block map). Build
 * tables and images never change once written (a new image gets a new name), so models and
 * orders are cached per isolate by key, up to a memory budget.
 */
import { type BuildFile, type BuildModel, buildModel } from '../../engine/build-model'
import { IMAGE_FIXED_HEADER_BYTES, imageHeaderLength } from '../../engine/dxf'
import type { ScannedFile } from '../../engine/tar-scan'
import type { Env } from '../../env'
import { buildKeys, imageKeys } from '../../storage/keys'

/** Estimated bytes of cached models and orders kept per isolate. */
export const CACHE_BUDGET_BYTES = 48 * 1024 * 1024

/** An image's block map and where its block data starts. */
export interface ImageOrder {
  /** Slot -> block. */
  order: Uint32Array
  /** Bytes before the block data: `"@"` trace reads count from the start of `image.dxf`. */
  headerLength: number
}

interface Cached {
  value: BuildModel | ImageOrder
  bytes: number
}

const cache = new Map<string, Cached>()
let cachedBytes = 0

function remember<T extends BuildModel | ImageOrder>(key: string, value: T, bytes: number): T {
  if (bytes > CACHE_BUDGET_BYTES) return value
  while (cachedBytes + bytes > CACHE_BUDGET_BYTES && cache.size > 0) {
    const [oldest, entry] = cache.entries().next().value as [string, Cached]
    cache.delete(oldest)
    cachedBytes -= entry.bytes
  }
  cache.set(key, { value, bytes })
  cachedBytes += bytes
  return value
}

function recall(key: string): Cached['value'] | undefined {
  const entry = cache.get(key)
  if (!entry) return undefined
  // Map order is insertion order: re-inserting makes this the most recently used.
  cache.delete(key)
  cache.set(key, entry)
  return entry.value
}

/** Thrown when a build's tables or an image are not in R2 (evicted, or never written). */
export class MissingBuildData extends Error {
  override name = 'MissingBuildData'
}

async function getObject(env: Env, key: string, range?: R2Range): Promise<R2ObjectBody> {
  const object = await env.BUCKET.get(key, range ? { range } : undefined)
  if (!object) throw new MissingBuildData(`object ${key} is missing`)
  return object
}

/** The build's regular files as the engine's model needs them. */
export function modelOfFiles(blockSize: number, files: readonly ScannedFile[]): BuildModel {
  const regular: BuildFile[] = files
    .filter((file) => file.kind === 'file')
    .map((file) => ({
      path: file.path,
      size: file.size,
      firstBlock: file.firstBlock,
      blockCount: file.blockCount,
    }))
  return buildModel(blockSize, regular)
}

/** The file table mkraw wrote for a build (every entry, folders and links included). */
export async function loadFileTable(
  env: Env,
  orgId: string,
  appId: string,
  buildId: number,
): Promise<ScannedFile[]> {
  const object = await getObject(env, buildKeys(orgId, appId, buildId).files)
  return (await object.json()) as ScannedFile[]
}

/** The block model of a build, cached per isolate. */
export async function loadBuildModel(
  env: Env,
  build: { orgId: string; appId: string; buildId: number; blockSize: number },
): Promise<BuildModel> {
  const key = buildKeys(build.orgId, build.appId, build.buildId).files
  const known = recall(key)
  if (known) return known as BuildModel
  const files = await loadFileTable(env, build.orgId, build.appId, build.buildId)
  const model = modelOfFiles(build.blockSize, files)
  const bytes = 8 * model.blockCount + files.reduce((sum, file) => sum + 80 + file.path.length, 0)
  return remember(key, model, bytes)
}

/** The build's block hashes, 16 bytes per block (not cached: only image writers need them). */
export async function loadBlockHashes(
  env: Env,
  build: { orgId: string; appId: string; buildId: number },
): Promise<Uint8Array> {
  const object = await getObject(env, buildKeys(build.orgId, build.appId, build.buildId).blocks)
  return new Uint8Array(await object.arrayBuffer())
}

/**
 * The order (slot -> block) of image `dxfName` and its header length, read with two range
 * reads (the fixed header, then the block map) and cached per isolate.
 */
export async function loadImageOrder(
  env: Env,
  orgId: string,
  appId: string,
  dxfName: string,
): Promise<ImageOrder> {
  const key = imageKeys(orgId, appId, dxfName).image
  const known = recall(key)
  if (known) return known as ImageOrder

  const head = new Uint8Array(
    await (
      await getObject(env, key, { offset: 0, length: IMAGE_FIXED_HEADER_BYTES })
    ).arrayBuffer(),
  )
  const headerLength = imageHeaderLength(head)
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength)
  const blockCount = view.getUint32(20, true)
  const blockMapOffset = view.getUint32(52, true)
  const map = new Uint8Array(
    await (
      await getObject(env, key, { offset: blockMapOffset, length: blockCount * 4 })
    ).arrayBuffer(),
  )
  if (map.length !== blockCount * 4) throw new MissingBuildData(`image ${key} is cut short`)
  const mapView = new DataView(map.buffer, map.byteOffset, map.byteLength)
  const order = new Uint32Array(blockCount)
  for (let slot = 0; slot < blockCount; slot++) order[slot] = mapView.getUint32(slot * 4, true)
  return remember(key, { order, headerLength }, 4 * blockCount)
}
