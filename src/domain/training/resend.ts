/**
 * Traces stored but never counted: the upload stored them and then failed to reach the app's
 * coordinator. The cron hands them over again once they are a minute old (younger ones may
 * still be on their way). The coordinator ignores traces it already holds or has counted.
 */
import { and, asc, eq, lt } from 'drizzle-orm'
import type { AppIdentity } from '../../coordinator/coordinator-state'
import { dbOf } from '../../db/client'
import { apps, orgs, traces } from '../../db/schema'
import type { Env } from '../../env'
import type { Logger } from '../../http/log'
import { announceTraces } from './announce'

/** Traces handed over per cron run. */
export const RESEND_LIMIT = 500
/** Age before an uncounted trace is taken for lost. */
export const RESEND_AFTER_MS = 60_000

/** Sends uncounted traces older than a minute to their coordinators; returns how many. */
export async function resendUncountedTraces(env: Env, now: Date, log: Logger): Promise<number> {
  const before = new Date(now.getTime() - RESEND_AFTER_MS).toISOString()
  const rows = await dbOf(env)
    .select({
      id: traces.id,
      orgId: orgs.id,
      orgName: orgs.name,
      appId: apps.id,
      appName: apps.name,
    })
    .from(traces)
    .innerJoin(apps, eq(apps.id, traces.appId))
    .innerJoin(orgs, eq(orgs.id, traces.orgId))
    .where(and(eq(traces.counted, false), lt(traces.created, before), eq(orgs.state, 'active')))
    .orderBy(asc(traces.created))
    .limit(RESEND_LIMIT)
    .all()

  const byApp = new Map<string, { app: AppIdentity; ids: string[] }>()
  for (const row of rows) {
    const entry = byApp.get(row.appId) ?? {
      app: { orgId: row.orgId, orgName: row.orgName, appId: row.appId, appName: row.appName },
      ids: [],
    }
    entry.ids.push(row.id)
    byApp.set(row.appId, entry)
  }
  for (const { app, ids } of byApp.values()) await announceTraces(env, app, ids, log)
  if (rows.length)
    log.info('uncounted traces sent again', { traces: rows.length, apps: byApp.size })
  return rows.length
}
