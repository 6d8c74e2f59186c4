/**
 * Changing an app's training settings (`PATCH /be/v1/trainings`). The coordinator is told, so a
 * lowered threshold can start a run without waiting for the next trace.
 */
import { eq } from 'drizzle-orm'
import { coordinatorOf } from '../../coordinator/app-coordinator'
import { dbOf, isoNow } from '../../db/client'
import { apps } from '../../db/schema'
import type { Env } from '../../env'
import type { Logger } from '../../http/log'
import type { AppRow } from '../apps/find-app'
import { mergeTraining, parseTraining, type TrainingSettings } from '../apps/training-settings'

/** Applies `change` to `app`'s settings; 400 when minCoverage would exceed maxCoverage. */
export async function modifyTraining(
  env: Env,
  org: { id: string; name: string },
  app: AppRow,
  change: Partial<TrainingSettings>,
  log: Logger,
): Promise<TrainingSettings> {
  const settings = mergeTraining(parseTraining(app.training), change)
  await dbOf(env)
    .update(apps)
    .set({ training: JSON.stringify(settings), updated: isoNow() })
    .where(eq(apps.id, app.id))
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
