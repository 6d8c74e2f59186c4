/**
 * The `training` object of API.md (Training): an app's six settings beside the figures its
 * coordinator keeps, and in the detail the history of runs and the current load profile.
 */
import { desc, eq } from 'drizzle-orm'
import { coordinatorOf } from '../../coordinator/app-coordinator'
import type { TrainingFigures } from '../../coordinator/coordinator-state'
import { dbOf } from '../../db/client'
import { trainingRuns } from '../../db/schema'
import type { Env } from '../../env'
import { imageKeys } from '../../storage/keys'
import type { AppRow } from '../apps/find-app'
import { parseTraining, type TrainingSettings } from '../apps/training-settings'

export const TRAINING_STATES = ['collecting', 'ready', 'processing', 'trained', 'disabled'] as const
export type TrainingState = (typeof TRAINING_STATES)[number]

/** One app's training as the list and the detail show it. */
export type TrainingInfo = {
  appName: string
  state: TrainingState
  nTraces: number
  nNewTraces: number
  coverage: number
  traceTimeSec: number
  lastProcessed: string | null
  dxfName: string | null
} & { [Setting in keyof TrainingSettings]: TrainingSettings[Setting] }

/** Every field of a training info, for `fields[]`. */
export const TRAINING_FIELDS = [
  'appName',
  'state',
  'nTraces',
  'nNewTraces',
  'coverage',
  'traceTimeSec',
  'lastProcessed',
  'dxfName',
  'nTracesReliable',
  'minCoverage',
  'maxCoverage',
  'minTraceTimeSec',
  'nProcessTracesMin',
  'uploadTrace',
] as const

/**
 * Where an app's training stands, first match wins:
 * - `disabled`: launchers may not upload traces (`uploadTrace` false);
 * - `processing`: an `mkdxf` run is queued or running;
 * - `trained`: a run has processed the traces, and either coverage reached `maxCoverage` (no
 *   more automatic runs) or fewer than `nProcessTracesMin` new traces arrived since;
 * - `ready`: enough traces, coverage and trace time for a reliable order: a run is due, waits
 *   for `nProcessTracesMin` new traces, or (coverage past `maxCoverage` before any run) waits
 *   for a manual `processTraces`;
 * - `collecting`: otherwise.
 */
export function trainingState(settings: TrainingSettings, figures: TrainingFigures): TrainingState {
  if (!settings.uploadTrace) return 'disabled'
  if (figures.runningTask) return 'processing'
  if (
    figures.lastProcessed &&
    (figures.coverage >= settings.maxCoverage || figures.nNewTraces < settings.nProcessTracesMin)
  ) {
    return 'trained'
  }
  const reliable =
    figures.nTraces >= settings.nTracesReliable &&
    figures.coverage >= settings.minCoverage &&
    figures.traceTimeSec >= settings.minTraceTimeSec
  return reliable ? 'ready' : 'collecting'
}

/** The figures of `app` from its coordinator. */
export async function trainingFigures(
  env: Env,
  org: { id: string; name: string },
  app: AppRow,
): Promise<TrainingFigures> {
  return coordinatorOf(env, org.name, app.name).figures(
    { orgId: org.id, orgName: org.name, appId: app.id, appName: app.name },
    app.iCurBuild,
  )
}

/** The training info of `app`. */
export async function trainingInfo(
  env: Env,
  org: { id: string; name: string },
  app: AppRow,
): Promise<TrainingInfo> {
  const settings = parseTraining(app.training)
  const figures = await trainingFigures(env, org, app)
  return {
    appName: app.name,
    state: trainingState(settings, figures),
    nTraces: figures.nTraces,
    nNewTraces: figures.nNewTraces,
    coverage: figures.coverage,
    traceTimeSec: figures.traceTimeSec,
    lastProcessed: figures.lastProcessed,
    dxfName: app.dxfName,
    ...settings,
  }
}

/** The infos of many apps, asking their coordinators a few at a time. */
export async function trainingInfos(
  env: Env,
  org: { id: string; name: string },
  rows: AppRow[],
): Promise<TrainingInfo[]> {
  const infos: TrainingInfo[] = []
  for (let i = 0; i < rows.length; i += 10) {
    infos.push(
      ...(await Promise.all(rows.slice(i, i + 10).map((row) => trainingInfo(env, org, row)))),
    )
  }
  return infos
}

/** A processing run as the detail lists it. */
export interface TrainingRunView {
  taskName: string
  /** Traces the run's statistics held. */
  nTraces: number
  coverage: number
  qualityBefore: unknown
  qualityAfter: unknown
  deployed: boolean
  reason: string
  /** The order method the candidate was measured by; null when the run measured nothing. */
  method: string | null
  created: string
}

/** Runs listed in the detail, newest first. */
export const RUNS_SHOWN = 50

/** The app's newest runs. */
export async function trainingRunsOf(env: Env, appId: string): Promise<TrainingRunView[]> {
  const rows = await dbOf(env)
    .select()
    .from(trainingRuns)
    .where(eq(trainingRuns.appId, appId))
    .orderBy(desc(trainingRuns.created), desc(trainingRuns.id))
    .limit(RUNS_SHOWN)
    .all()
  return rows.map((row) => ({
    taskName: row.taskName,
    nTraces: row.nTraces,
    coverage: row.coverage,
    qualityBefore: row.qualityBefore ? JSON.parse(row.qualityBefore) : null,
    qualityAfter: row.qualityAfter ? JSON.parse(row.qualityAfter) : null,
    deployed: row.deployed,
    reason: row.reason,
    method: row.method,
    created: row.created,
  }))
}

/** The load profile published beside the current image, or null while there is none. */
export async function currentProfile(env: Env, app: AppRow): Promise<unknown> {
  if (!app.dxfName) return null
  const object = await env.BUCKET.get(imageKeys(app.orgId, app.id, app.dxfName).profile)
  if (!object) return null
  try {
    return { dxfName: app.dxfName, ...((await object.json()) as Record<string, unknown>) }
  } catch {
    return null
  }
}
