/**
 * Trace keys: the credential of an app's game clients (API.md section 2). A key is a random
 * secret shown once; only its SHA-256 is stored, and a presented key is checked against the
 * named app's hash in constant time.
 */
import { and, eq } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { apps, orgs } from '../../db/schema'
import type { Env } from '../../env'
import { constantTimeEqual, newSecret, sha256Hex } from '../auth/secrets'
import type { AppRow } from './find-app'

/** A new trace key and the hash to store. */
export async function newTraceKey(): Promise<{ traceKey: string; hash: string }> {
  const traceKey = newSecret('rkt')
  return { traceKey, hash: await sha256Hex(traceKey) }
}

/** The org and app a trace key opens. */
export interface TraceKeyApp {
  org: { id: string; name: string }
  app: AppRow
}

/** The app `orgName/appName` when `traceKey` is its current key; null otherwise. */
export async function appOfTraceKey(
  env: Env,
  orgName: string,
  appName: string,
  traceKey: string,
): Promise<TraceKeyApp | null> {
  const row = await dbOf(env)
    .select({ app: apps, orgId: orgs.id, orgName: orgs.name, orgState: orgs.state })
    .from(apps)
    .innerJoin(orgs, eq(orgs.id, apps.orgId))
    .where(and(eq(orgs.name, orgName), eq(apps.name, appName)))
    .get()
  const hash = await sha256Hex(traceKey)
  if (row?.orgState !== 'active' || !constantTimeEqual(hash, row.app.traceKeyHash)) {
    return null
  }
  return { org: { id: row.orgId, name: row.orgName }, app: row.app }
}
