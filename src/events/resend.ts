/**
 * Deliveries recorded but never queued (the queue send failed after the row was written) would
 * wait forever; the cron queues again any delivery still untouched after a few minutes.
 * Receivers deduplicate by `eventId`, so a message queued twice does no harm.
 */
import { and, eq, lt } from 'drizzle-orm'
import { dbOf } from '../db/client'
import { deliveries } from '../db/schema'
import type { Env } from '../env'

/** Deliveries older than this with no attempt are queued again. */
export const STALE_DELIVERY_SEC = 300

export async function resendStaleDeliveries(env: Env, now: Date): Promise<number> {
  const before = new Date(now.getTime() - STALE_DELIVERY_SEC * 1000).toISOString()
  const stale = await dbOf(env)
    .select({ id: deliveries.id })
    .from(deliveries)
    .where(
      and(
        eq(deliveries.state, 'pending'),
        eq(deliveries.attempts, 0),
        lt(deliveries.created, before),
      ),
    )
    .limit(100)
    .all()
  if (stale.length) await env.EVENTS.sendBatch(stale.map((d) => ({ body: { deliveryId: d.id } })))
  return stale.length
}
