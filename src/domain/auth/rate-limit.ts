/**
 * Fixed-window counters in D1 (`rate_limits`). An attempt is counted before it is judged, so a
 * burst of parallel requests cannot slip past the limit; an attempt that should not count (a
 * successful login, a refused one) is given back afterwards.
 */
import { inArray, sql } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { rateLimits } from '../../db/schema'
import type { Env } from '../../env'
import { rateLimited } from '../../http/errors'

/** One counter: at most `limit` counted attempts per `windowSec` for `key`. */
export interface FixedWindow {
  key: string
  limit: number
  windowSec: number
}

const nowSec = () => Math.floor(Date.now() / 1000)

async function countOne(env: Env, window: FixedWindow, now: number) {
  const stale = now - window.windowSec
  const fresh = sql`${rateLimits.windowStart} <= ${stale}`
  return dbOf(env)
    .insert(rateLimits)
    .values({ key: window.key, windowStart: now, count: 1 })
    .onConflictDoUpdate({
      target: rateLimits.key,
      set: {
        count: sql`CASE WHEN ${fresh} THEN 1 ELSE ${rateLimits.count} + 1 END`,
        windowStart: sql`CASE WHEN ${fresh} THEN ${now} ELSE ${rateLimits.windowStart} END`,
      },
    })
    .returning()
    .get()
}

/** Takes back one counted attempt from each window. */
export async function giveBack(env: Env, windows: FixedWindow[]): Promise<void> {
  await dbOf(env)
    .update(rateLimits)
    .set({ count: sql`max(${rateLimits.count} - 1, 0)` })
    .where(
      inArray(
        rateLimits.key,
        windows.map((w) => w.key),
      ),
    )
}

/**
 * Counts one attempt in every window. When any window is over its limit the attempt is given
 * back and a 429 is thrown whose `Retry-After` is the time until that window ends.
 */
export async function takeAttempt(env: Env, windows: FixedWindow[]): Promise<void> {
  const now = nowSec()
  let waitSec = 0
  for (const window of windows) {
    const row = await countOne(env, window, now)
    if (row.count > window.limit) {
      waitSec = Math.max(waitSec, row.windowStart + window.windowSec - now, 1)
    }
  }
  if (waitSec > 0) {
    await giveBack(env, windows)
    throw rateLimited(waitSec)
  }
}
