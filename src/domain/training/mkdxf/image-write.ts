/**
 * Writing a run's new image with the same writer `mkraw` uses: the header (file table, block
 * hashes, the candidate's block map and its load profile) goes to a scratch object, and the
 * image is composed from it and the build's tar in bounded multipart steps, with the SHA-256 of
 * the whole image in its metadata. Memory of the prepare step: the header (about 20 bytes per
 * block plus the file table) and the build's block hashes (16 bytes per block).
 */
import { encodeImageHeader } from '../../../engine/dxf'
import type { LoadProfile } from '../../../engine/profile'
import { buildKeys, imageKeys } from '../../../storage/keys'
import { decodeBlockList, encodeGeometry } from '../../builds/mkraw/block-geometry'
import type { Composition } from '../../builds/mkraw/composition'
import { type CompositionWrite, planWrite } from '../../builds/mkraw/write-composition'
import { loadBlockHashes, loadFileTable } from '../build-store'
import type { RunJob } from './run-job'

/** Stores the new image's header and geometry and plans its write to `dxfName`. */
export async function prepareImage(
  job: RunJob,
  dxfName: string,
  profile: LoadProfile,
): Promise<CompositionWrite> {
  const { env, orgId, buildId } = job
  const appId = job.app.id
  const object = await env.BUCKET.get(job.scratch.candidate)
  if (!object) throw new Error('the candidate order of this run is missing')
  const order = decodeBlockList(new Uint8Array(await object.arrayBuffer()))
  const files = await loadFileTable(env, orgId, appId, buildId)
  const hashes = await loadBlockHashes(env, { orgId, appId, buildId })

  const header = encodeImageHeader({
    blockSize: job.build.blockSize,
    files,
    blockHashes: hashes,
    order,
    profile,
  })
  await env.BUCKET.put(job.scratch.header, header)
  await env.BUCKET.put(job.scratch.geometry, encodeGeometry(files))
  const dataBytes = files.reduce((sum, file) => sum + (file.kind === 'file' ? file.size : 0), 0)

  const spec: Composition = {
    headerKey: job.scratch.header,
    headerBytes: header.length,
    listKey: job.scratch.candidate,
    tarKey: job.build.tarKey ?? buildKeys(orgId, appId, buildId).tar,
    geometryKey: job.scratch.geometry,
    blockSize: job.build.blockSize,
    blockCount: order.length,
    totalBytes: header.length + dataBytes,
  }
  return planWrite(spec, imageKeys(orgId, appId, dxfName).image, { sha256: true })
}
