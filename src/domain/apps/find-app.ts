/** Finding an app by name inside one org: another org's app is simply not found. */
import { and, eq } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { apps } from '../../db/schema'
import type { Env } from '../../env'
import { notFound } from '../../http/errors'

/** An app row as D1 holds it. */
export type AppRow = typeof apps.$inferSelect

/** The app `appName` of org `orgId`, or null. */
export async function findApp(env: Env, orgId: string, appName: string): Promise<AppRow | null> {
  const row = await dbOf(env)
    .select()
    .from(apps)
    .where(and(eq(apps.orgId, orgId), eq(apps.name, appName)))
    .get()
  return row ?? null
}

/** The app `appName` of org `orgId`; 404 when the org has no such app. */
export async function requireApp(env: Env, orgId: string, appName: string): Promise<AppRow> {
  const row = await findApp(env, orgId, appName)
  if (!row) throw notFound(`app ${appName}`)
  return row
}

/** The app's registered deployment names; an empty list means all of the org's deployments. */
export function registeredDeployments(row: Pick<AppRow, 'deployments'>): string[] {
  return row.deployments ? (JSON.parse(row.deployments) as string[]) : []
}
