/** The cron trigger: housekeeping that no request waits for. */
import { lt } from 'drizzle-orm'
import { dbOf, isoNow } from './db/client'
import { rateLimits, sessions } from './db/schema'
import { expireStaleUploads } from './domain/builds/expire-uploads'
import { deleteRetiredFiles } from './domain/deployments/retired-files'
import { resendUncountedTraces } from './domain/training/resend'
import { type Env, settingsOf } from './env'
import { resendStaleDeliveries } from './events/resend'
import { createLogger, type Logger } from './http/log'
import { resendStuckTasks } from './tasks/unstick'

async function dropExpiredCredentials(env: Env, now: Date) {
  const db = dbOf(env)
  await db.delete(sessions).where(lt(sessions.expires, isoNow(-86_400)))
  await db
    .delete(rateLimits)
    .where(lt(rateLimits.windowStart, Math.floor(now.getTime() / 1000) - 3600))
}

/**
 * Runs every few minutes. Each job runs even when an earlier one fails, so one broken piece of
 * housekeeping never stops the others.
 */
export async function runCron(env: Env, now: Date): Promise<void> {
  const log: Logger = createLogger(settingsOf(env).logLevel, { cron: now.toISOString() })
  const jobs: [string, () => Promise<unknown>][] = [
    ['credentials', () => dropExpiredCredentials(env, now)],
    ['uploads', () => expireStaleUploads(env, now.toISOString())],
    ['retiredFiles', () => deleteRetiredFiles(env, now)],
    ['traces', () => resendUncountedTraces(env, now, log)],
    ['deliveries', () => resendStaleDeliveries(env, now)],
    ['stuckTasks', () => resendStuckTasks(env, now)],
  ]
  for (const [name, job] of jobs) {
    try {
      await job()
    } catch (error) {
      log.error('cron job failed', { job: name, error: String(error) })
    }
  }
}
