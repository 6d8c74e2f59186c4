/** Delivery rows and their queue messages. */
import { dbOf } from '../db/client'
import { deliveries, type subscriptions } from '../db/schema'
import type { Env } from '../env'
import type { TaskEvent } from './emit'

/** Records one delivery per subscription (once per event id) and queues it. */
export async function enqueueDeliveries(
  env: Env,
  subs: (typeof subscriptions.$inferSelect)[],
  body: TaskEvent,
): Promise<void> {
  const db = dbOf(env)
  for (const sub of subs) {
    const id = crypto.randomUUID()
    const inserted = await db
      .insert(deliveries)
      .values({ id, subscriptionId: sub.id, eventId: body.eventId, payload: JSON.stringify(body) })
      .onConflictDoNothing()
      .returning({ id: deliveries.id })
    if (inserted.length) await env.EVENTS.send({ deliveryId: id })
  }
}
