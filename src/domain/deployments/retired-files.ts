/**
 * Files a newer publish replaced stay on the origin for 24 h (launchers mid-download keep
 * working), recorded in `retired_files`; the cron deletes them when due. A row's id is derived
 * from deployment and key, so retiring twice is harmless and a publish that writes a key again
 * simply takes it back (`keepKey`). Rows without a deployment are the depot's: R2 keys of a
 * replaced image, which the depot serves until the cron deletes them.
 */
import { and, asc, eq, inArray, isNull, lte } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { deployments, retiredFiles } from '../../db/schema'
import { type Env, settingsOf } from '../../env'
import { createLogger } from '../../http/log'
import { sha256Hex } from '../auth/secrets'
import { originOf } from './origin-of'

/** How long a replaced file stays on its origin. */
export const RETIRE_AFTER_SEC = 86_400

/** Rows per insert: 5 bound values each, under D1's 100 per statement. */
const INSERT_CHUNK = 15

/** A deployment's id, or null for the depot (the key is then an R2 key). */
type RetiredFrom = string | null

const retiredId = (deploymentId: RetiredFrom, key: string) =>
  sha256Hex(`${deploymentId ?? ''}\n${key}`)

/**
 * The `retired_files` rows that retire `keys` of `deploymentId` (null: the depot's R2 keys)
 * `RETIRE_AFTER_SEC` after `now`; for a caller that writes them in a batch with its own change.
 */
export async function retiredRows(
  orgId: string,
  deploymentId: RetiredFrom,
  keys: string[],
  now = Date.now(),
): Promise<(typeof retiredFiles.$inferInsert)[]> {
  const deleteAfter = new Date(now + RETIRE_AFTER_SEC * 1000).toISOString()
  return Promise.all(
    keys.map(async (key) => ({
      id: await retiredId(deploymentId, key),
      orgId,
      deploymentId,
      key,
      deleteAfter,
    })),
  )
}

/** Marks keys of `deploymentId` (null: the depot) for deletion `RETIRE_AFTER_SEC` after `now`. */
export async function retireKeys(
  env: Env,
  orgId: string,
  deploymentId: RetiredFrom,
  keys: string[],
  now = Date.now(),
): Promise<void> {
  if (keys.length === 0) return
  const rows = await retiredRows(orgId, deploymentId, keys, now)
  const db = dbOf(env)
  for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
    await db
      .insert(retiredFiles)
      .values(rows.slice(i, i + INSERT_CHUNK))
      .onConflictDoNothing()
  }
}

/** A publish wrote `key` again: it is live, so it must not be deleted later. */
export async function keepKey(env: Env, deploymentId: string, key: string): Promise<void> {
  await dbOf(env)
    .delete(retiredFiles)
    .where(eq(retiredFiles.id, await retiredId(deploymentId, key)))
}

/** True while the depot's R2 object `key` is retired but not yet deleted. */
export async function retiredInDepot(env: Env, key: string): Promise<boolean> {
  const row = await dbOf(env)
    .select({ id: retiredFiles.id })
    .from(retiredFiles)
    .where(and(eq(retiredFiles.id, await retiredId(null, key)), isNull(retiredFiles.deploymentId)))
    .get()
  return row !== undefined
}

/**
 * Deletes retired files that are due at `now` (at most `limit` per run; the cron comes back).
 * A file whose origin cannot be reached stays recorded and is tried again next run; rows of a
 * deployment that no longer exists are dropped (its removal pruned the origin). The depot's
 * files are deleted from R2.
 */
export async function deleteRetiredFiles(
  env: Env,
  now: Date,
  limit = 100,
): Promise<{ deleted: number; failed: number }> {
  const db = dbOf(env)
  const log = createLogger(settingsOf(env).logLevel, { job: 'retired-files' })
  const due = await db
    .select()
    .from(retiredFiles)
    .where(lte(retiredFiles.deleteAfter, now.toISOString()))
    .orderBy(asc(retiredFiles.deleteAfter))
    .limit(limit)
    .all()

  let deleted = 0
  let failed = 0
  const byDeployment = new Map<string, typeof due>()
  for (const row of due) {
    const key = row.deploymentId ?? ''
    byDeployment.set(key, [...(byDeployment.get(key) ?? []), row])
  }
  for (const [deploymentId, rows] of byDeployment) {
    const ids = rows.map((row) => row.id)
    if (!deploymentId) {
      await env.BUCKET.delete(rows.map((row) => row.key))
      await db.delete(retiredFiles).where(inArray(retiredFiles.id, ids))
      deleted += rows.length
      continue
    }
    const deployment = await db
      .select()
      .from(deployments)
      .where(eq(deployments.id, deploymentId))
      .get()
    if (!deployment) {
      await db.delete(retiredFiles).where(inArray(retiredFiles.id, ids))
      continue
    }
    let done = 0
    try {
      const origin = await originOf(env, deployment)
      for (const row of rows) {
        await origin.delete(row.key)
        await db.delete(retiredFiles).where(eq(retiredFiles.id, row.id))
        done++
      }
    } catch (error) {
      failed += rows.length - done
      log.warn('retired files not deleted, will retry', {
        deployment: deployment.name,
        error: error instanceof Error ? error.message : String(error),
      })
    }
    deleted += done
  }
  return { deleted, failed }
}
