/**
 * Changing an app: label, builds kept, registered deployments, and a new trace key (the old one
 * stops working at once). Lowering `maxBuilds` below the builds kept evicts the oldest.
 */
import { eq } from 'drizzle-orm'
import { dbOf, isoNow } from '../../db/client'
import { apps } from '../../db/schema'
import type { Env } from '../../env'
import type { Logger } from '../../http/log'
import { checkDeploymentNames } from './deployment-names'
import { evictOldBuilds } from './evict-builds'
import type { AppRow } from './find-app'
import { newTraceKey } from './trace-key'

export interface ModifyAppInput {
  label?: string
  maxBuilds?: number
  /** Replaces the registered list; `[]` or null means all of the org's deployments. */
  deployments?: string[] | null
  rotateTraceKey?: boolean
}

export interface ModifiedApp {
  app: AppRow
  /** The new trace key when it was rotated, shown once. */
  traceKey?: string
  /** Builds evicted because `maxBuilds` went down. */
  evicted: number[]
}

/** Applies `change` to `row`. 400 for an unknown deployment, 409 for one being deleted. */
export async function modifyApp(
  env: Env,
  row: AppRow,
  change: ModifyAppInput,
  log: Logger,
): Promise<ModifiedApp> {
  const values: Partial<typeof apps.$inferInsert> = {}
  if (change.label !== undefined) values.label = change.label
  if (change.maxBuilds !== undefined) values.maxBuilds = change.maxBuilds
  if (change.deployments !== undefined) {
    const listed = row.deployments ? (JSON.parse(row.deployments) as string[]) : []
    const names = await checkDeploymentNames(env, row.orgId, change.deployments ?? [], listed)
    values.deployments = JSON.stringify(names)
  }
  let traceKey: string | undefined
  if (change.rotateTraceKey) {
    const fresh = await newTraceKey()
    traceKey = fresh.traceKey
    values.traceKeyHash = fresh.hash
  }

  const db = dbOf(env)
  if (Object.keys(values).length) {
    await db
      .update(apps)
      .set({ ...values, updated: isoNow() })
      .where(eq(apps.id, row.id))
  }
  const app = (await db.select().from(apps).where(eq(apps.id, row.id)).get()) as AppRow
  const evicted = change.maxBuilds !== undefined ? await evictOldBuilds(env, app, log) : []
  return { app, traceKey, evicted }
}
