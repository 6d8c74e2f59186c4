/**
 * The `events` queue consumer. Each message names one delivery row: the event is POSTed to the
 * subscription's target (signed for webhooks, as a readable message for Slack), and the result is
 * recorded on the row. A failed attempt is retried by the queue with growing back-off
 * (`backoff.ts`); when the queue gives up, the message reaches the dead-letter queue and
 * `handleDeadEvents` marks the delivery `dead`. Messages of a batch are attempted side by side,
 * so one slow receiver delays the others by at most one timeout.
 */
import { and, eq, ne, sql } from 'drizzle-orm'
import { dbOf, isoNow } from '../db/client'
import { deliveries, subscriptions } from '../db/schema'
import { targetProblem } from '../domain/net/target-check'
import { signingSecret } from '../domain/subscriptions/subscriptions'
import { type Env, settingsOf } from '../env'
import { createLogger, type Logger } from '../http/log'
import { retryDelaySec } from './backoff'
import type { TaskEvent } from './emit'
import type { EventMessage } from './messages'
import { type AttemptResult, postEvent } from './post'
import { signEvent } from './sign'
import { slackMessage } from './slack'

/** Delivers each message of a batch of the `events` queue. */
export async function handleEventBatch(batch: MessageBatch<EventMessage>, env: Env): Promise<void> {
  const settings = settingsOf(env)
  const log = createLogger(settings.logLevel, { queue: batch.queue })
  await Promise.all(
    batch.messages.map(async (message) => {
      const retry = () =>
        message.retry({ delaySeconds: retryDelaySec(message.attempts, settings.eventBackoffScale) })
      try {
        const outcome = await attemptDelivery(env, message.body.deliveryId, log)
        if (outcome === 'retry') retry()
        else message.ack()
      } catch (error) {
        log.error('event delivery crashed', {
          deliveryId: message.body.deliveryId,
          error: String(error),
          stack: (error as Error)?.stack,
        })
        retry()
      }
    }),
  )
}

type Outcome = 'done' | 'retry'

async function attemptDelivery(env: Env, deliveryId: string, log: Logger): Promise<Outcome> {
  const db = dbOf(env)
  const found = await db
    .select({ delivery: deliveries, subscription: subscriptions })
    .from(deliveries)
    .innerJoin(subscriptions, eq(subscriptions.id, deliveries.subscriptionId))
    .where(eq(deliveries.id, deliveryId))
    .get()
  // The subscription was deleted (its deliveries with it): nobody wants this event any more.
  if (!found) {
    log.info('event delivery dropped', { deliveryId, reason: 'subscription deleted' })
    return 'done'
  }
  const { delivery, subscription } = found
  if (delivery.state === 'delivered' || delivery.state === 'dead') return 'done'

  const result = await attempt(env, delivery, subscription)
  await db
    .update(deliveries)
    .set({
      state: result.delivered ? 'delivered' : 'failed',
      attempts: sql`${deliveries.attempts} + 1`,
      lastStatus: result.status,
      lastError: result.error,
      updated: isoNow(),
    })
    .where(eq(deliveries.id, delivery.id))

  const facts = {
    deliveryId,
    subscription: subscription.name,
    eventId: delivery.eventId,
    attempt: delivery.attempts + 1,
    status: result.status,
  }
  if (result.delivered) {
    log.info('event delivered', facts)
    return 'done'
  }
  log.warn('event delivery failed', { ...facts, error: result.error })
  return 'retry'
}

async function attempt(
  env: Env,
  delivery: typeof deliveries.$inferSelect,
  subscription: typeof subscriptions.$inferSelect,
): Promise<AttemptResult> {
  // Checked again at delivery: the instance may have stopped allowing private targets since.
  const settings = settingsOf(env)
  const problem = targetProblem(subscription.url, {
    allowPrivateTargets: settings.allowPrivateTargets,
    selfUrl: settings.publicUrl || undefined,
  })
  if (problem) return { delivered: false, status: null, error: `target refused: ${problem}` }

  if (subscription.targetType === 'slack') {
    const event = JSON.parse(delivery.payload) as TaskEvent
    return postEvent(subscription.url, JSON.stringify(slackMessage(event)), {})
  }
  const secret = await signingSecret(env, subscription)
  const signature = await signEvent(secret, delivery.eventId, delivery.payload)
  return postEvent(subscription.url, delivery.payload, { 'x-rockit-subscriptions': signature })
}

/**
 * Messages the `events` queue gave up on after its last retry: the delivery is marked `dead` so
 * the subscription shows it as a dead letter. A delivery already gone (subscription deleted) or
 * delivered is left alone.
 */
export async function handleDeadEvents(batch: MessageBatch<EventMessage>, env: Env): Promise<void> {
  const log = createLogger(settingsOf(env).logLevel, { queue: batch.queue })
  for (const message of batch.messages) {
    const dead = await dbOf(env)
      .update(deliveries)
      .set({ state: 'dead', updated: isoNow() })
      .where(and(eq(deliveries.id, message.body.deliveryId), ne(deliveries.state, 'delivered')))
      .returning({ eventId: deliveries.eventId, attempts: deliveries.attempts })
    if (dead.length) {
      log.warn('event delivery dead', { deliveryId: message.body.deliveryId, ...dead[0] })
    }
    message.ack()
  }
}
