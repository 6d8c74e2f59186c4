/**
 * What an app's coordinator keeps in its Durable Object storage, and the shapes of its RPC
 * calls. Everything here is small: counters, the fold batch in progress (at most
 * {@link FOLD_BATCH} trace ids) and the running run; pending trace ids are separate keys.
 */
import type { FoldItem } from '../domain/training/fold'

/** Which app a coordinator serves (every RPC call brings it; an app re-created resets it). */
export interface AppIdentity {
  orgId: string
  orgName: string
  appId: string
  appName: string
}

/** Traces folded per batch: one R2 read of statistics and one write per batch and build. */
export const FOLD_BATCH = 100

/** A batch of traces being folded; kept until it is committed so a crash redoes it exactly. */
export interface FoldBatch {
  seq: number
  /** The pending ids the batch took. */
  ids: string[]
  /** Those of them still uncounted in D1 when the batch was made. */
  items: FoldItem[]
}

/** The `mkdxf` run the coordinator started. */
export interface RunRecord {
  taskName: string
  /** `nNewTraces` when it was submitted: what a successful run takes off the counter. */
  nNewAtSubmit: number
  manual: boolean
  /** False between recording the run and the task row existing. */
  submitted: boolean
  since: string
  /** The build the run trains (absent in runs recorded by older versions). */
  buildId?: number
}

/** The training figures of an app, as the trainings API shows them. */
export interface TrainingFigures {
  /** The build the figures refer to (the current build once followed). */
  buildId: number | null
  nTraces: number
  nNewTraces: number
  traceTimeSec: number
  coverage: number
  lastProcessed: string | null
  /** The `mkdxf` task queued or running for the app. */
  runningTask: string | null
}

export interface CoordinatorState {
  app: AppIdentity | null
  buildId: number | null
  nTraces: number
  nNewTraces: number
  traceTimeSec: number
  coverage: number
  lastProcessed: string | null
  /** Number of the last fold batch committed. */
  foldSeq: number
  batch: FoldBatch | null
  run: RunRecord | null
  /** After a failed run, automatic runs wait until `nNewTraces` grows past this. */
  failedAtNew: number | null
}

/** The state of a coordinator that has seen nothing yet. */
export function initialState(): CoordinatorState {
  return {
    app: null,
    buildId: null,
    nTraces: 0,
    nNewTraces: 0,
    traceTimeSec: 0,
    coverage: 0,
    lastProcessed: null,
    foldSeq: 0,
    batch: null,
    run: null,
    failedAtNew: null,
  }
}

/** What `processNow` answers: the `mkdxf` task started, or why none was (an API error). */
export type ProcessOutcome =
  | { ok: true; taskName: string }
  | { ok: false; status: 409; code: 'conflict'; message: string }

/** How a run ended, as the task tells its coordinator. */
export interface RunOutcome {
  succeeded: boolean
  /** Whether the run published an image (absent: not known). */
  deployed?: boolean
}
