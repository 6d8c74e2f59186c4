/**
 * The app object of API.md: its settings, what it is doing (state.ts), its kept builds, current
 * image and patches. Views of many apps load their builds, patches and tasks together.
 */
import { and, asc, eq, inArray } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { builds, patches } from '../../db/schema'
import type { Env } from '../../env'
import { type AppRow, registeredDeployments } from './find-app'
import { type AppStatus, appActivities, appStatus } from './state'
import { parseTraining, type TrainingSettings } from './training-settings'

/** A kept (ready) build as the app object lists it. */
export interface BuildSummary {
  buildId: number
  buildName: string
  sizeBytes: number
  files: number
  created: string
}

export interface PatchSummary {
  fromBuildId: number
  toBuildId: number
  sizeBytes: number
}

/** The app as the API shows it. */
export type AppView = {
  name: string
  label: string
  iCurBuild: number | null
  maxBuilds: number
  builds: BuildSummary[]
  dxfName: string | null
  patches: PatchSummary[]
  /** Registered deployment names; empty means all of the org's deployments. */
  deployments: string[]
  /** Sum of the kept builds' sizes. */
  sizeBytes: number
  blockSize: number
  training: TrainingSettings
  created: string
  updated: string
} & AppStatus

/** Every field of the app object, in the order API.md lists them (for `fields[]`). */
export const APP_FIELDS = [
  'name',
  'label',
  'state',
  'processing',
  'exporting',
  'locked',
  'error',
  'iCurBuild',
  'maxBuilds',
  'builds',
  'dxfName',
  'patches',
  'deployments',
  'sizeBytes',
  'blockSize',
  'training',
  'created',
  'updated',
] as const

const CHUNK = 50

function group<T extends { appId: string }>(rows: T[]): Map<string, T[]> {
  const byApp = new Map<string, T[]>()
  for (const row of rows) {
    const list = byApp.get(row.appId) ?? []
    list.push(row)
    byApp.set(row.appId, list)
  }
  return byApp
}

/** The status of each app (for filtering by state before the full views are built). */
export async function appStatuses(env: Env, rows: AppRow[]): Promise<Map<string, AppStatus>> {
  const activity = await appActivities(
    env,
    rows.map((row) => row.id),
  )
  return new Map(rows.map((row) => [row.id, appStatus(row, activity.get(row.id))]))
}

/** Full views of `rows`, in their order. `statuses` may carry what was already loaded. */
export async function appViews(
  env: Env,
  rows: AppRow[],
  statuses?: Map<string, AppStatus>,
): Promise<AppView[]> {
  const db = dbOf(env)
  const known = statuses ?? (await appStatuses(env, rows))
  const buildRows: (typeof builds.$inferSelect)[] = []
  const patchRows: (typeof patches.$inferSelect)[] = []
  for (let i = 0; i < rows.length; i += CHUNK) {
    const ids = rows.slice(i, i + CHUNK).map((row) => row.id)
    buildRows.push(
      ...(await db
        .select()
        .from(builds)
        .where(and(inArray(builds.appId, ids), eq(builds.state, 'ready')))
        .orderBy(asc(builds.buildId))
        .all()),
    )
    patchRows.push(
      ...(await db
        .select()
        .from(patches)
        .where(inArray(patches.appId, ids))
        .orderBy(asc(patches.toBuildId), asc(patches.fromBuildId))
        .all()),
    )
  }
  const buildsOf = group(buildRows)
  const patchesOf = group(patchRows)

  return rows.map((row) => {
    const kept = (buildsOf.get(row.id) ?? []).map((build) => ({
      buildId: build.buildId,
      buildName: build.buildName,
      sizeBytes: build.sizeBytes,
      files: build.files,
      created: build.created,
    }))
    const status = known.get(row.id) ?? appStatus(row)
    return {
      name: row.name,
      label: row.label,
      ...status,
      iCurBuild: row.iCurBuild,
      maxBuilds: row.maxBuilds,
      builds: kept,
      dxfName: row.dxfName,
      patches: (patchesOf.get(row.id) ?? []).map((patch) => ({
        fromBuildId: patch.fromBuildId,
        toBuildId: patch.toBuildId,
        sizeBytes: patch.sizeBytes,
      })),
      deployments: registeredDeployments(row),
      sizeBytes: kept.reduce((sum, build) => sum + build.sizeBytes, 0),
      blockSize: row.blockSize,
      training: parseTraining(row.training),
      created: row.created,
      updated: row.updated,
    }
  })
}

/** The view of one app. */
export async function appView(env: Env, row: AppRow): Promise<AppView> {
  const [view] = await appViews(env, [row])
  return view
}
