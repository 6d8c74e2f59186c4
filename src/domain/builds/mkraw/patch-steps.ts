/**
 * Making the patches into one image, a bounded step at a time: for each base build in turn, a
 * planning step (header and block list to scratch objects) and then write steps of the patch,
 * then its `patches` row. `mkraw` runs it for a new build's first image and `mkdxf` again when
 * it replaces a build's image, so every patch always leads to the image launchers are told of.
 * The run state is small and lives in the task cursor; each step can run twice.
 */
import type { Logger } from '../../../http/log'
import { type PatchSummary, type PatchTarget, preparePatch, recordPatch } from './patches'
import { advanceWrite, type CompositionWrite } from './write-composition'

/** Where making the patches into one image stands. */
export interface PatchRun {
  /** Base builds, in the order their patches are made. */
  sources: number[]
  /** Index into `sources` of the patch being made. */
  index: number
  write?: CompositionWrite
  changedFilesBytes?: number
  /** The base image the patch being written applies to. */
  fromDxfName?: string
  patches: PatchSummary[]
  /** Builds whose patch would have saved nothing. */
  skipped?: number[]
}

/** A run that makes one patch from each of `sources`. */
export function startPatchRun(sources: number[]): PatchRun {
  return { sources, index: 0, patches: [] }
}

/** True once every source had its turn. */
export function patchRunDone(run: PatchRun): boolean {
  return run.index >= run.sources.length
}

/** Share of the sources done, 0 to 1. */
export function patchRunProgress(run: PatchRun): number {
  return run.sources.length === 0 ? 1 : run.index / run.sources.length
}

/** Moves the run on by one bounded step: plans the next patch, or writes some of it. */
export async function advancePatches(
  target: PatchTarget,
  run: PatchRun,
  stepBytes: number,
  log: Logger,
): Promise<PatchRun> {
  if (patchRunDone(run)) return run
  const from = run.sources[run.index]
  if (!run.write) {
    const planned = await preparePatch(target, from)
    if (planned.kind === 'gone') return { ...run, index: run.index + 1 }
    if (planned.kind === 'useless') {
      log.info('patch skipped: it would not be smaller than the image', {
        fromBuildId: from,
        toBuildId: target.buildId,
        patchBytes: planned.sizeBytes,
        imageBytes: target.image.totalBytes,
      })
      return { ...run, index: run.index + 1, skipped: [...(run.skipped ?? []), from] }
    }
    const { write, changedFilesBytes, fromDxfName } = planned
    return { ...run, write, changedFilesBytes, fromDxfName }
  }
  const write = await advanceWrite(target.env.BUCKET, run.write, stepBytes)
  if (write.stage !== 'done') return { ...run, write }
  const patch = await recordPatch(target, from, write, run.changedFilesBytes ?? 0, run.fromDxfName)
  return {
    ...run,
    index: run.index + 1,
    write: undefined,
    changedFilesBytes: undefined,
    fromDxfName: undefined,
    patches: [...run.patches, patch],
  }
}
