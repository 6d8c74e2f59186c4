/**
 * The scan phase of mkraw: the tar is read from R2 a range at a time and fed to the resumable
 * `TarScanner`; the file table (JSON array) and the block table (16-byte hashes by block index)
 * grow by appending, and the scanner's checkpoint rides in the cursor. A step holds one range
 * chunk and at most one block, whatever the size of the build.
 */
import { eq } from 'drizzle-orm'
import { dbOf } from '../../../db/client'
import { builds } from '../../../db/schema'
import { BLOCK_HASH_BYTES, writeHash } from '../../../engine/block-hash'
import {
  type ScanCheckpoint,
  type ScannedFile,
  type ScanTotals,
  TarScanError,
  TarScanner,
} from '../../../engine/tar-scan'
import {
  type AppendState,
  append,
  finishAppend,
  startAppend,
} from '../../../storage/multipart-append'
import { type StepContext, TaskFailure } from '../../../tasks/types'
import type { BuildJob } from '../build-job'
import { tarFailure } from './tar-failure'

export interface ScanCursor {
  phase: 'scan'
  tarBytes: number
  checkpoint?: ScanCheckpoint
  files: AppendState
  blocks: AppendState
  /** File table entries written so far. */
  entries: number
}

export interface ScanFinishCursor {
  phase: 'scan-finish'
  tarBytes: number
  files: AppendState
  blocks: AppendState
  totals: ScanTotals
}

const encoder = new TextEncoder()

/** Starts the scan: both tables as appended objects. Fails when the tar is missing. */
export async function startScan(job: BuildJob): Promise<ScanCursor> {
  const tar = await job.bucket.head(job.tarKey)
  if (!tar) {
    throw new TaskFailure({
      code: 'tarMissing',
      message: `the tar of build ${job.build.buildName} is not stored; upload the build again`,
    })
  }
  const json = { httpMetadata: { contentType: 'application/json' } }
  const opened = await startAppend(job.bucket, job.keys.files, job.work.filesTail, json)
  const files = await append(job.bucket, opened, [encoder.encode('[')])
  const blocks = await startAppend(job.bucket, job.keys.blocks, job.work.blocksTail)
  return { phase: 'scan', tarBytes: tar.size, files, blocks, entries: 0 }
}

/** Streams tar bytes `offset .. offset + length - 1` into the scanner. */
async function feed(
  job: BuildJob,
  scanner: TarScanner,
  offset: number,
  length: number,
  found: { files: ScannedFile[]; hashes: Uint8Array[] },
) {
  const object = await job.bucket.get(job.tarKey, { range: { offset, length } })
  if (!object) throw new Error(`tar ${job.tarKey} vanished while scanning`)
  const reader = object.body.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return
    const { files, blocks } = await scanner.push(value)
    found.files.push(...files)
    if (blocks.length) {
      const packed = new Uint8Array(blocks.length * BLOCK_HASH_BYTES)
      blocks.forEach((block, i) => {
        writeHash(packed, i * BLOCK_HASH_BYTES, block.hash)
      })
      found.hashes.push(packed)
    }
    if (scanner.done) {
      await reader.cancel()
      return
    }
  }
}

async function reportWarnings(ctx: StepContext, scanner: TarScanner) {
  for (const warning of scanner.warnings) {
    const known = ctx.task.warnings.some((w) => w.message === warning.message)
    if (!known) await ctx.warn(warning.code, warning.message)
  }
}

/**
 * Scans about `job.stepBytes` of tar (more when a block or pax entry spans the boundary, so
 * every step moves forward). Returns the next cursor; a bad tar fails the task.
 */
export async function scanStep(
  ctx: StepContext,
  job: BuildJob,
  cursor: ScanCursor,
): Promise<ScanCursor | ScanFinishCursor> {
  const scanner = new TarScanner({ blockSize: job.build.blockSize, checkpoint: cursor.checkpoint })
  const from = cursor.checkpoint?.tarOffset ?? 0
  const found = { files: [] as ScannedFile[], hashes: [] as Uint8Array[] }
  let readAt = from
  let totals: ScanTotals | undefined
  try {
    for (;;) {
      const length = Math.min(job.stepBytes, cursor.tarBytes - readAt)
      if (length > 0) {
        await feed(job, scanner, readAt, length, found)
        readAt += length
      }
      if (scanner.done || readAt >= cursor.tarBytes) {
        totals = scanner.finish()
        break
      }
      if (scanner.checkpoint().tarOffset > from) break
    }
  } catch (error) {
    if (error instanceof TarScanError) throw tarFailure(error)
    throw error
  }
  await reportWarnings(ctx, scanner)

  const text = found.files.map((file) => JSON.stringify(file)).join(',')
  const separator = cursor.entries > 0 && text ? ',' : ''
  const files = await append(job.bucket, cursor.files, [encoder.encode(separator + text)])
  const blocks = await append(job.bucket, cursor.blocks, found.hashes)
  const entries = cursor.entries + found.files.length
  if (totals) return { phase: 'scan-finish', tarBytes: cursor.tarBytes, files, blocks, totals }
  return { ...cursor, checkpoint: scanner.checkpoint(), files, blocks, entries }
}

/** Completes both tables and records the build's totals. */
export async function finishScan(job: BuildJob, cursor: ScanFinishCursor): Promise<void> {
  await finishAppend(job.bucket, cursor.files, encoder.encode(']'))
  await finishAppend(job.bucket, cursor.blocks)
  const blocksStored = await job.bucket.head(job.keys.blocks)
  if (blocksStored?.size !== cursor.totals.blocks * BLOCK_HASH_BYTES) {
    throw new Error(`block table of build ${job.buildId} has the wrong size`)
  }
  await dbOf(job.env)
    .update(builds)
    .set({
      files: cursor.totals.files,
      blocks: cursor.totals.blocks,
      sizeBytes: cursor.totals.sizeBytes,
    })
    .where(eq(builds.id, job.build.id))
}
