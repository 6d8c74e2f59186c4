/**
 * The `mkraw` task: turns a build's tar into its file and block tables, its first image and its
 * patches, then makes it current. Each step does one bounded piece and says where the next one
 * resumes (the cursor); phases in order: queued (waiting while another import of the app goes
 * first), scan, scan-finish, image-prepare, image, patch, commit.
 */
import { and, eq, inArray } from 'drizzle-orm'
import { dbOf } from '../../../db/client'
import { builds } from '../../../db/schema'
import type { ScanTotals } from '../../../engine/tar-scan'
import type { StepContext, StepOutcome, TaskHandler } from '../../../tasks/types'
import { type BuildJob, loadBuildJob } from '../build-job'
import { mkrawAhead, type QueuedCursor, waitFor } from './admission'
import { cleanupFailedMkraw } from './cleanup'
import { commitBuild } from './commit'
import { type ImageSummary, prepareImage, writeProfile } from './image'
import {
  advancePatches,
  type PatchRun,
  patchRunDone,
  patchRunProgress,
  startPatchRun,
} from './patch-steps'
import { type PatchSummary, type PatchTarget, patchSources, staleBases } from './patches'
import { finishScan, type ScanCursor, type ScanFinishCursor, scanStep, startScan } from './scan'
import { advanceWrite, type CompositionWrite, writeProgress } from './write-composition'

interface Built {
  totals: ScanTotals
}

type ImageCursor = Built & { phase: 'image'; write: CompositionWrite }

type PatchCursor = Built & { phase: 'patch'; image: ImageSummary; remade?: number } & PatchRun

type CommitCursor = Built & {
  phase: 'commit'
  image: ImageSummary
  patches: PatchSummary[]
  skipped?: number[]
  /** Times the patches were made again because training replaced a base image meanwhile. */
  remade?: number
}

/** Rounds of remaking patches before the build commits with what it has. */
const MAX_PATCH_REMAKES = 3

type MkrawCursor =
  | QueuedCursor
  | ScanCursor
  | ScanFinishCursor
  | (Built & { phase: 'image-prepare' })
  | ImageCursor
  | PatchCursor
  | CommitCursor

const next = (cursor: MkrawCursor, progress: number): StepOutcome => ({
  kind: 'continue',
  cursor: cursor as unknown as Record<string, unknown>,
  progress,
})

async function begin(job: BuildJob): Promise<StepOutcome> {
  // A retried task starts over: its build may have been marked failed by the last run.
  await dbOf(job.env)
    .update(builds)
    .set({ state: 'importing' })
    .where(and(eq(builds.id, job.build.id), inArray(builds.state, ['pending', 'failed'])))
  return next(await startScan(job), 0)
}

async function imageStep(job: BuildJob, cursor: ImageCursor): Promise<StepOutcome> {
  const write = await advanceWrite(job.bucket, cursor.write, job.stepBytes)
  if (write.stage !== 'done') return next({ ...cursor, write }, 0.4 + 0.4 * writeProgress(write))
  await writeProfile(job)
  const image = { dxfName: job.dxfName, sizeBytes: write.spec.totalBytes, sha256: write.sha256! }
  const run = startPatchRun(await patchSources(job))
  return next({ phase: 'patch', totals: cursor.totals, image, ...run }, 0.8)
}

/** The target of the new build's patches: its first image, as the image phase composed it. */
function firstImageTarget(job: BuildJob, totals: ScanTotals, imageBytes: number): PatchTarget {
  const { work } = job
  return {
    env: job.env,
    orgId: job.orgId,
    appId: job.appId,
    buildId: job.buildId,
    image: {
      headerKey: work.imageHeader,
      listKey: work.imageList,
      tarKey: job.tarKey,
      geometryKey: work.geometry,
      blockSize: job.build.blockSize,
      blockCount: totals.blocks,
      totalBytes: imageBytes,
    },
    scratch: { header: work.patchHeader, list: work.patchList },
  }
}

async function patchStep(
  ctx: StepContext,
  job: BuildJob,
  cursor: PatchCursor,
): Promise<StepOutcome> {
  const { phase, totals, image, remade, ...run } = cursor
  if (patchRunDone(run)) {
    const { patches, skipped } = run
    return next({ phase: 'commit', totals, image, patches, skipped, remade }, 0.95)
  }
  const target = firstImageTarget(job, totals, image.sizeBytes)
  const moved = await advancePatches(target, run, job.stepBytes, ctx.log)
  return next({ phase, totals, image, remade, ...moved }, 0.8 + 0.15 * patchRunProgress(moved))
}

async function step(ctx: StepContext): Promise<StepOutcome> {
  const job = await loadBuildJob(ctx.env, ctx.task)
  const cursor = ctx.task.cursor as MkrawCursor | null
  if (!cursor || cursor.phase === 'queued') {
    const ahead = await mkrawAhead(ctx)
    if (!ahead) return begin(job)
    ctx.log.debug('mkraw waits for another import of the app', { ahead })
    return waitFor(ahead)
  }

  switch (cursor.phase) {
    case 'scan': {
      const moved = await scanStep(ctx, job, cursor)
      const at = moved.phase === 'scan' ? (moved.checkpoint?.tarOffset ?? 0) : moved.tarBytes
      return next(moved, (0.4 * at) / Math.max(1, cursor.tarBytes))
    }
    case 'scan-finish':
      await finishScan(job, cursor)
      return next({ phase: 'image-prepare', totals: cursor.totals }, 0.4)
    case 'image-prepare': {
      const write = await prepareImage(job, cursor.totals)
      return next({ phase: 'image', totals: cursor.totals, write }, 0.4)
    }
    case 'image':
      return imageStep(job, cursor)
    case 'patch':
      return patchStep(ctx, job, cursor)
    case 'commit': {
      const remade = cursor.remade ?? 0
      const stale = await staleBases(job.env, job.appId, cursor.patches)
      if (stale.length > 0 && remade < MAX_PATCH_REMAKES) {
        ctx.log.info('patches made again: training replaced their base images', { stale })
        const { totals, image, skipped } = cursor
        const kept = cursor.patches.filter((patch) => !stale.includes(patch.fromBuildId))
        const run = { ...startPatchRun(stale), patches: kept, skipped }
        return next({ phase: 'patch', totals, image, remade: remade + 1, ...run }, 0.8)
      }
      const committed = await commitBuild(job, ctx.task, ctx.log)
      ctx.log.info('build ready', {
        buildId: job.buildId,
        current: committed.current,
        evicted: committed.evicted,
      })
      return {
        kind: 'done',
        result: {
          buildId: job.buildId,
          buildName: job.build.buildName,
          dxfName: job.dxfName,
          files: cursor.totals.files,
          blocks: cursor.totals.blocks,
          sizeBytes: cursor.totals.sizeBytes,
          image: cursor.image,
          patches: cursor.patches,
          skippedPatches: cursor.skipped ?? [],
          ...committed,
        },
      }
    }
  }
}

/** Handler of `mkraw` tasks (params `{buildId, stepBytes?}`; the app is the task's). */
export const mkrawTask: TaskHandler = {
  step,
  onFailed: cleanupFailedMkraw,
}
