/**
 * The image phase of mkraw: the build's first image, `image.dxf`, in native order (or the order
 * carried from training), written through a multipart upload with the SHA-256 of the whole image
 * in its custom metadata, then its `profile.json`.
 */
import { encodeImageHeader } from '../../../engine/dxf'
import type { ScannedFile, ScanTotals } from '../../../engine/tar-scan'
import { imageKeys } from '../../../storage/keys'
import type { BuildJob } from '../build-job'
import { carriedOrder, NATIVE_PROFILE, nativeOrder } from '../carried-order'
import { encodeBlockList, encodeGeometry } from './block-geometry'
import type { Composition } from './composition'
import { refuseUnsafeTree } from './tar-failure'
import { type CompositionWrite, planWrite } from './write-composition'

/** What is known of the written image. */
export interface ImageSummary {
  dxfName: string
  sizeBytes: number
  sha256: string
}

async function readObject(bucket: R2Bucket, key: string): Promise<R2ObjectBody> {
  const object = await bucket.get(key)
  if (!object) throw new Error(`object ${key} is missing`)
  return object
}

/** Loads the file table written by the scan. */
export async function loadFiles(bucket: R2Bucket, key: string): Promise<ScannedFile[]> {
  return (await (await readObject(bucket, key)).json()) as ScannedFile[]
}

/** Loads a whole object as bytes (a block table, a stored header, a block list). */
export async function loadBytes(bucket: R2Bucket, key: string): Promise<Uint8Array> {
  return new Uint8Array(await (await readObject(bucket, key)).arrayBuffer())
}

/**
 * Checks the whole file table (a build whose paths are only unsafe together fails here, before
 * anything of its image exists), encodes the image header and stores what the writing steps
 * need: the header, the block order and the build's block geometry. Returns the planned write
 * of `image.dxf`.
 */
export async function prepareImage(job: BuildJob, totals: ScanTotals): Promise<CompositionWrite> {
  const files = await loadFiles(job.bucket, job.keys.files)
  refuseUnsafeTree(files)
  const hashes = await loadBytes(job.bucket, job.keys.blocks)
  const order =
    (await carriedOrder(job.env, job.app, { buildId: job.buildId, blocks: totals.blocks })) ??
    nativeOrder(totals.blocks)
  const header = encodeImageHeader({
    blockSize: job.build.blockSize,
    files,
    blockHashes: hashes,
    order,
    profile: NATIVE_PROFILE,
  })
  await job.bucket.put(job.work.geometry, encodeGeometry(files))
  await job.bucket.put(job.work.imageHeader, header)
  await job.bucket.put(job.work.imageList, encodeBlockList(order))

  const spec: Composition = {
    headerKey: job.work.imageHeader,
    headerBytes: header.length,
    listKey: job.work.imageList,
    tarKey: job.tarKey,
    geometryKey: job.work.geometry,
    blockSize: job.build.blockSize,
    blockCount: totals.blocks,
    totalBytes: header.length + totals.sizeBytes,
  }
  return planWrite(spec, imageKeys(job.orgId, job.appId, job.dxfName).image, { sha256: true })
}

/** Writes `profile.json` beside the finished image. */
export async function writeProfile(job: BuildJob): Promise<void> {
  await job.bucket.put(
    imageKeys(job.orgId, job.appId, job.dxfName).profile,
    JSON.stringify(NATIVE_PROFILE),
    { httpMetadata: { contentType: 'application/json' } },
  )
}
