/**
 * Changing an app's training settings (`PATCH /be/v1/trainings`). The coordinator is told, so a
 * lowered threshold can start a run without waiting for the next trace.
 */
import { and, eq } from 'drizzle-orm'
import { coordinatorOf } from '../../coordinator/app-coordinator'
import { dbOf, isoNow } from '../../db/client'
import { apps } from '../../db/schema'
import type { Env } from '../../env'
import { conflict, notFound } from '../../http/errors'
import type { Logger } from '../../http/log'
import type { AppRow } from '../apps/find-app'
import { mergeTraining, parseTraining, type TrainingSettings } from '../apps/training-settings'

/** Writes tried before a change racing others is given up with 409. */
const MAX_WRITES = 10

/** Wait after the n-th lost write: about n times this many ms (half to one and a half times). */
const BACKOFF_MS = 2

/**
 * A short wait, longer after each lost write and random, so changes that lost to the same
 * writer do not all read and write again at the same moment and lose to each other again.
 */
function backoff(lost: number): Promise<void> {
  const ms = lost * BACKOFF_MS * (0.5 + Math.random())
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * Applies `change` to `app`'s settings as stored, so two changes at once both land: the row is
 * written only if its settings are still the ones read (compare and swap, D1 has no
 * transactions across requests), else read again, checked again and written again. 400 when
 * minCoverage would exceed maxCoverage in the settings actually stored; 409 after
 * {@link MAX_WRITES} lost races. Between tries it waits a few ms ({@link backoff}), so a dozen
 * changes at once all land.
 */
export async function modifyTraining(
  env: Env,
  org: { id: string; name: string },
  app: AppRow,
  change: Partial<TrainingSettings>,
  log: Logger,
): Promise<TrainingSettings> {
  const db = dbOf(env)
  let stored = app.training
  let settings: TrainingSettings
  for (let write = 1; ; write++) {
    settings = mergeTraining(parseTraining(stored), change)
    const written = await db
      .update(apps)
      .set({ training: JSON.stringify(settings), updated: isoNow() })
      .where(and(eq(apps.id, app.id), eq(apps.training, stored)))
      .returning({ id: apps.id })
    if (written.length > 0) break

    if (write === MAX_WRITES) {
      throw conflict(`the training settings of app ${app.name} keep changing: try again`)
    }
    await backoff(write)
    const fresh = await db
      .select({ training: apps.training })
      .from(apps)
      .where(eq(apps.id, app.id))
      .get()
    if (!fresh) throw notFound(`app ${app.name}`)
    stored = fresh.training
  }

  try {
    await coordinatorOf(env, org.name, app.name).settingsChanged({
      orgId: org.id,
      orgName: org.name,
      appId: app.id,
      appName: app.name,
    })
  } catch (error) {
    // The next trace or cron run applies the new settings anyway.
    log.warn('coordinator not told of new settings', { error: String(error) })
  }
  return settings
}
