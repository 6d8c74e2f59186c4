/**
 * The record of a processing run (`training_runs`), written once per task whatever the
 * outcome: the traces and coverage it trained on, the quality before and after, and whether
 * its image was published and why. Keyed by the task name, so a step that runs twice writes
 * one row.
 */
import { dbOf } from '../../../db/client'
import { trainingRuns } from '../../../db/schema'
import type { Env } from '../../../env'
import type { RunQuality } from './decide'

export interface RunRecordInput {
  appId: string
  taskName: string
  nTraces: number
  coverage: number
  before?: RunQuality
  after?: RunQuality
  deployed: boolean
  reason: string
  /** The order method the candidate was measured by (ORDER_METHODS), once measured. */
  method?: string
}

/** Records the run (once). */
export async function recordRun(env: Env, run: RunRecordInput): Promise<void> {
  await dbOf(env)
    .insert(trainingRuns)
    .values({
      id: run.taskName,
      appId: run.appId,
      taskName: run.taskName,
      nTraces: run.nTraces,
      coverage: run.coverage,
      qualityBefore: run.before ? JSON.stringify(run.before) : null,
      qualityAfter: run.after ? JSON.stringify(run.after) : null,
      deployed: run.deployed,
      reason: run.reason,
      method: run.method ?? null,
    })
    .onConflictDoNothing()
}
