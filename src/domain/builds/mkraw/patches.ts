/**
 * The patch phase of mkraw: for every earlier build the app keeps, a patch from that build's
 * image to the new one (the new build's blocks whose content the old build lacks, plus the new
 * image header), its size, and the size of the files that changed, as a `patches` row. A patch
 * that would be as large as the new image or larger is not made.
 *
 * Planning holds both block tables (16 bytes per block each), the new image's block map (4),
 * what `planPatch` builds, and both file tables; of the images' headers it reads only their
 * 64-byte fixed headers. The patch's header is never assembled: it is written as a composition
 * of its fixed header, the new image's header object and the block list. Measured at 1.6 M
 * blocks in docs/benchmarks.md ("Memory of patch planning and inheritance").
 */
import { and, asc, desc, eq, inArray, ne } from 'drizzle-orm'
import { dbOf } from '../../../db/client'
import { builds, patches } from '../../../db/schema'
import { IMAGE_FIXED_HEADER_BYTES } from '../../../engine/dxf'
import {
  encodePatchFixedHeader,
  imageFixedFields,
  PATCH_FIXED_HEADER_BYTES,
} from '../../../engine/patch'
import { carriedDataBytes, changedFilesBytes, planPatch } from '../../../engine/patch-plan'
import type { Env } from '../../../env'
import { buildKeys, imageKeys, patchKey } from '../../../storage/keys'
import { newId } from '../../auth/secrets'
import type { BuildJob } from '../build-job'
import { encodeBlockList } from './block-geometry'
import type { Composition } from './composition'
import { loadBytes, loadFiles } from './image'
import { type CompositionWrite, planWrite } from './write-composition'

/** A patch as the mkraw result lists it. */
export interface PatchSummary {
  fromBuildId: number
  sizeBytes: number
  changedFilesBytes: number
  /** The base build's image the patch applies to. */
  fromDxfName?: string
}

/**
 * The builds to patch from: the newest ready builds of the app that stay kept once this build
 * is added (`maxBuilds - 1` of them), newest first.
 */
export async function patchSources(job: BuildJob): Promise<number[]> {
  const rows = await dbOf(job.env)
    .select({ buildId: builds.buildId })
    .from(builds)
    .where(
      and(eq(builds.appId, job.appId), eq(builds.state, 'ready'), ne(builds.buildId, job.buildId)),
    )
    .orderBy(desc(builds.buildId))
    .limit(Math.max(0, job.app.maxBuilds - 1))
    .all()
  return rows.map((row) => row.buildId)
}

async function getRange(bucket: R2Bucket, key: string, length: number): Promise<Uint8Array> {
  const object = await bucket.get(key, { range: { offset: 0, length } })
  if (!object) throw new Error(`object ${key} is missing`)
  return new Uint8Array(await object.arrayBuffer())
}

/** A stored block list (u32 little-endian) as numbers, a view of the bytes when aligned. */
function blockListOf(bytes: Uint8Array): Uint32Array {
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice()
  return new Uint32Array(aligned.buffer, aligned.byteOffset, aligned.length / 4)
}

/** What planning a patch found: a patch to write, or why there is none. */
export type PlannedPatch =
  | { kind: 'write'; write: CompositionWrite; changedFilesBytes: number; fromDxfName: string }
  /** The base build went meanwhile. */
  | { kind: 'gone' }
  /** The patch would be as large as the new image or larger: a launcher fetches the image. */
  | { kind: 'useless'; sizeBytes: number }

/**
 * The image patches lead to: the build's new image as its writer composed it (header, block
 * map, tar and geometry in R2), whichever task made it (mkraw's first image, an mkdxf image).
 */
export interface PatchTarget {
  env: Env
  orgId: string
  appId: string
  buildId: number
  /** How the target image is composed (`totalBytes` is its size; header and map in R2). */
  image: Omit<Composition, 'headerBytes'>
  /** Where a patch's header and block list wait while it is written. */
  scratch: { header: (fromBuildId: number) => string; list: (fromBuildId: number) => string }
}

/**
 * Plans the patch from build `fromBuildId` to the target image: stores its header and block
 * list and returns the write of `patch.dxf` and the changed files' size, unless the base is
 * gone or the patch would save nothing.
 */
export async function preparePatch(
  target: PatchTarget,
  fromBuildId: number,
): Promise<PlannedPatch> {
  const { env, image } = target
  const db = dbOf(env)
  const from = await db
    .select()
    .from(builds)
    .where(and(eq(builds.appId, target.appId), eq(builds.buildId, fromBuildId)))
    .get()
  if (from?.state !== 'ready' || !from.dxfName) return { kind: 'gone' }

  const bucket = env.BUCKET
  const fromKeys = buildKeys(target.orgId, target.appId, fromBuildId)
  const toKeys = buildKeys(target.orgId, target.appId, target.buildId)
  const fromImage = imageKeys(target.orgId, target.appId, from.dxfName).image
  const head = await bucket.head(fromImage)
  if (!head) return { kind: 'gone' }
  // A patch names its base by the base image's header CRC and block count, both in the first
  // 64 bytes; of the new image it copies the header, so its fixed header is all it reads.
  const base = imageFixedFields(await getRange(bucket, fromImage, IMAGE_FIXED_HEADER_BYTES))
  const to = imageFixedFields(await getRange(bucket, image.headerKey, IMAGE_FIXED_HEADER_BYTES))
  if (to.blockCount !== image.blockCount) {
    throw new Error(`image header ${image.headerKey} is not of ${image.blockCount} blocks`)
  }

  const fromHashes = await loadBytes(bucket, fromKeys.blocks)
  const toHashes = await loadBytes(bucket, toKeys.blocks)
  const plan = planPatch(fromHashes, toHashes, blockListOf(await loadBytes(bucket, image.listKey)))
  const newBlockList = encodeBlockList(plan.newBlocks)
  const toFiles = await loadFiles(bucket, toKeys.files)
  const dataBytes = carriedDataBytes(toFiles, image.blockSize, image.blockCount, plan.newBlocks)
  const headerBytes = PATCH_FIXED_HEADER_BYTES + to.headerLength + newBlockList.length
  const sizeBytes = headerBytes + dataBytes
  if (sizeBytes >= image.totalBytes) return { kind: 'useless', sizeBytes }

  const fixed = encodePatchFixedHeader({ from: base, to, newBlockList, dataLength: dataBytes })
  await bucket.put(target.scratch.header(fromBuildId), fixed)
  await bucket.put(target.scratch.list(fromBuildId), newBlockList)
  const fromFiles = await loadFiles(bucket, fromKeys.files)
  const changed = changedFilesBytes(fromFiles, toFiles, fromHashes, toHashes)

  const spec: Composition = {
    ...image,
    headerKey: target.scratch.header(fromBuildId),
    headerBytes,
    headerParts: [
      { key: target.scratch.header(fromBuildId), bytes: fixed.length },
      { key: image.headerKey, bytes: to.headerLength },
      { key: target.scratch.list(fromBuildId), bytes: newBlockList.length },
    ],
    listKey: target.scratch.list(fromBuildId),
    totalBytes: sizeBytes,
  }
  const key = patchKey(target.orgId, target.appId, target.buildId, fromBuildId)
  return {
    kind: 'write',
    write: planWrite(spec, key, { sha256: false }),
    changedFilesBytes: changed,
    fromDxfName: from.dxfName,
  }
}

/** Records a written patch (a rerun overwrites the same row). */
export async function recordPatch(
  target: PatchTarget,
  fromBuildId: number,
  write: CompositionWrite,
  changed: number,
  fromDxfName?: string,
): Promise<PatchSummary> {
  const row = {
    appId: target.appId,
    fromBuildId,
    toBuildId: target.buildId,
    sizeBytes: write.spec.totalBytes,
    changedFilesBytes: changed,
    key: write.key,
  }
  await dbOf(target.env)
    .insert(patches)
    .values({ id: newId(), ...row })
    .onConflictDoUpdate({
      target: [patches.appId, patches.fromBuildId, patches.toBuildId],
      set: { sizeBytes: row.sizeBytes, changedFilesBytes: changed, key: row.key },
    })
  return {
    fromBuildId,
    sizeBytes: row.sizeBytes,
    changedFilesBytes: changed,
    ...(fromDxfName ? { fromDxfName } : {}),
  }
}

/**
 * The base builds of `made` whose current image is no longer the one their patch applies to:
 * training replaced it after the patch was planned. Such a patch would be refused
 * (`wrongBase`) by every launcher holding the base build's image now.
 */
export async function staleBases(
  env: Env,
  appId: string,
  made: readonly PatchSummary[],
): Promise<number[]> {
  const known = made.filter((patch) => patch.fromDxfName !== undefined)
  if (known.length === 0) return []
  const rows = await dbOf(env)
    .select({ buildId: builds.buildId, dxfName: builds.dxfName })
    .from(builds)
    .where(
      and(
        eq(builds.appId, appId),
        eq(builds.state, 'ready'),
        inArray(
          builds.buildId,
          known.map((patch) => patch.fromBuildId),
        ),
      ),
    )
    .all()
  const current = new Map(rows.map((row) => [row.buildId, row.dxfName]))
  return known
    .filter((patch) => current.has(patch.fromBuildId))
    .filter((patch) => current.get(patch.fromBuildId) !== patch.fromDxfName)
    .map((patch) => patch.fromBuildId)
}

/** The base builds of the patches recorded into build `toBuildId`, oldest first. */
export async function patchBases(env: Env, appId: string, toBuildId: number): Promise<number[]> {
  const rows = await dbOf(env)
    .select({ fromBuildId: patches.fromBuildId })
    .from(patches)
    .where(and(eq(patches.appId, appId), eq(patches.toBuildId, toBuildId)))
    .orderBy(asc(patches.fromBuildId))
    .all()
  return rows.map((row) => row.fromBuildId)
}
