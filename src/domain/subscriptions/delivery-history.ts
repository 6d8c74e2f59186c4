/**
 * What a subscription's owner sees of its deliveries: the latest attempts and their results, and
 * the dead letters (deliveries that used up every retry).
 */
import { and, count, desc, eq } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { deliveries } from '../../db/schema'
import type { Env } from '../../env'

/** How many deliveries and dead letters the subscription detail lists. */
export const HISTORY_LENGTH = 20

export const DELIVERY_STATES = ['pending', 'delivered', 'failed', 'dead'] as const

type DeliveryRow = typeof deliveries.$inferSelect

/** A delivery as the API shows it: the event it carries and how its attempts went. */
export function deliveryView(row: DeliveryRow) {
  const event = JSON.parse(row.payload) as { type?: string; event?: string }
  return {
    eventId: row.eventId,
    type: event.type ?? null,
    event: event.event ?? null,
    state: row.state as (typeof DELIVERY_STATES)[number],
    attempts: row.attempts,
    lastStatus: row.lastStatus,
    lastError: row.lastError,
    created: row.created,
    updated: row.updated,
  }
}

/** The latest deliveries of a subscription and its dead letters, newest first. */
export async function deliveryHistory(env: Env, subscriptionId: string) {
  const db = dbOf(env)
  const newestFirst = [desc(deliveries.created), desc(deliveries.id)]
  const [recent, dead, deadCount] = await db.batch([
    db
      .select()
      .from(deliveries)
      .where(eq(deliveries.subscriptionId, subscriptionId))
      .orderBy(...newestFirst)
      .limit(HISTORY_LENGTH),
    db
      .select()
      .from(deliveries)
      .where(and(eq(deliveries.subscriptionId, subscriptionId), eq(deliveries.state, 'dead')))
      .orderBy(...newestFirst)
      .limit(HISTORY_LENGTH),
    db
      .select({ n: count() })
      .from(deliveries)
      .where(and(eq(deliveries.subscriptionId, subscriptionId), eq(deliveries.state, 'dead'))),
  ])
  return {
    deliveries: recent.map(deliveryView),
    deadLetters: { count: deadCount[0]?.n ?? 0, items: dead.map(deliveryView) },
  }
}
