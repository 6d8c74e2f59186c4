/** Request and response schemas of subscriptions (webhooks and Slack targets). */
import { z } from '@hono/zod-openapi'
import { DELIVERY_STATES } from '../../domain/subscriptions/delivery-history'
import { TARGET_TYPES } from '../../domain/subscriptions/subscriptions'
import { EVENT_KINDS, EVENT_TASK_TYPES } from '../../events/emit'
import { nameSchema } from '../../http/schemas'

const url = z.string().min(1).max(2000).openapi({ example: 'https://hooks.example.com/rockit' })

const eventFilter = z.strictObject({
  type: z.enum(EVENT_TASK_TYPES),
  event: z.enum(EVENT_KINDS),
})

export const createSubscriptionBody = z
  .strictObject({
    name: nameSchema,
    target: z.discriminatedUnion('type', [
      z.strictObject({ type: z.literal('webhook'), url }),
      z.strictObject({ type: z.literal('slack'), url }),
    ]),
    events: z
      .array(eventFilter)
      .min(1, 'list at least one event, or leave events out for all of them')
      .max(100)
      .optional()
      .openapi({ description: 'Events to receive; every event when left out' }),
  })
  .openapi('CreateSubscription')

export const subscriptionSchema = z
  .object({
    name: z.string(),
    target: z.object({
      type: z.enum(TARGET_TYPES),
      url: z.string().openapi({ description: "A Slack URL's last path part is shown as ***" }),
    }),
    events: z.array(eventFilter),
    allEvents: z.boolean().openapi({ description: 'Created without `events`: receives all' }),
    created: z.string(),
    updated: z.string(),
  })
  .openapi('Subscription')

export const deliverySchema = z
  .object({
    eventId: z.string(),
    type: z.string().nullable(),
    event: z.string().nullable(),
    state: z.enum(DELIVERY_STATES),
    attempts: z.number().int(),
    lastStatus: z.number().int().nullable(),
    lastError: z.string().nullable(),
    created: z.string(),
    updated: z.string(),
  })
  .openapi('Delivery')

export const subscriptionDetailSchema = subscriptionSchema
  .extend({
    deliveries: z.array(deliverySchema).openapi({ description: 'The latest 20, newest first' }),
    deadLetters: z.object({
      count: z.number().int(),
      items: z.array(deliverySchema).openapi({ description: 'The latest 20, newest first' }),
    }),
  })
  .openapi('SubscriptionDetail')

/** Fields a list may ask for with `fields[]`, and keys it may order by. */
export const SUBSCRIPTION_LIST = {
  fields: ['name', 'target', 'events', 'allEvents', 'created', 'updated'],
  order: ['name', 'created', 'updated'],
} as const
