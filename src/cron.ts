/** The cron trigger: housekeeping that no request waits for. */
import { lt } from 'drizzle-orm'
import { dbOf, isoNow } from './db/client'
import { rateLimits, sessions } from './db/schema'
import type { Env } from './env'

/** Runs every few minutes: drops expired sessions and stale rate-limit windows. */
export async function runCron(env: Env, now: Date): Promise<void> {
  const db = dbOf(env)
  await db.delete(sessions).where(lt(sessions.expires, isoNow(-86_400)))
  await db
    .delete(rateLimits)
    .where(lt(rateLimits.windowStart, Math.floor(now.getTime() / 1000) - 3600))
}
