/**
 * Subscriptions: where an org's task events go (a signed webhook or a Slack incoming webhook) and
 * which events. The signing secret is made here, shown once, and kept sealed with the instance
 * key because every delivery has to sign with it again.
 */
import { and, eq } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { subscriptions } from '../../db/schema'
import { type Env, settingsOf } from '../../env'
import { EVENT_KINDS, EVENT_TASK_TYPES, type EventKind } from '../../events/emit'
import { conflict, invalidParam, notFound } from '../../http/errors'
import { newId, newSecret } from '../auth/secrets'
import { openSecret, sealSecret } from '../crypto/secret-box'
import { targetProblem } from '../net/target-check'

export type SubscriptionRow = typeof subscriptions.$inferSelect

export const TARGET_TYPES = ['webhook', 'slack'] as const

export interface SubscriptionTarget {
  type: (typeof TARGET_TYPES)[number]
  url: string
}

/** One event a subscription wants: a task type and what happened to it. */
export interface EventFilter {
  type: (typeof EVENT_TASK_TYPES)[number]
  event: EventKind
}

export interface CreateSubscriptionInput {
  name: string
  target: SubscriptionTarget
  /** Omitted: every event. */
  events?: EventFilter[]
}

/** Every event a subscription can receive, the default. */
export const ALL_EVENTS: EventFilter[] = EVENT_TASK_TYPES.flatMap((type) =>
  EVENT_KINDS.map((event) => ({ type, event })),
)

const secretContext = (id: string) => `subscription:${id}`

/** Creates a subscription of the org; returns it with its signing secret (to show once). */
export async function createSubscription(
  env: Env,
  orgId: string,
  input: CreateSubscriptionInput,
): Promise<{ subscription: SubscriptionRow; secret: string }> {
  const settings = settingsOf(env)
  const problem = targetProblem(input.target.url, {
    allowPrivateTargets: settings.allowPrivateTargets,
    selfUrl: settings.publicUrl || undefined,
  })
  if (problem) throw invalidParam([{ field: 'target.url', reason: problem }])

  const db = dbOf(env)
  const taken = await db
    .select({ id: subscriptions.id })
    .from(subscriptions)
    .where(and(eq(subscriptions.orgId, orgId), eq(subscriptions.name, input.name)))
    .get()
  if (taken) throw conflict(`subscription ${input.name} exists already`)

  const id = newId()
  const secret = newSecret('rks')
  const events = input.events ? uniqueFilters(input.events) : null
  const inserted = await db
    .insert(subscriptions)
    .values({
      id,
      orgId,
      name: input.name,
      targetType: input.target.type,
      url: input.target.url,
      events: events ? JSON.stringify(events) : null,
      secret: await sealSecret(settings.encryptionKey, secret, secretContext(id)),
    })
    .onConflictDoNothing()
    .returning()
  // A concurrent create with the same name won the unique index.
  if (!inserted.length) throw conflict(`subscription ${input.name} exists already`)
  return { subscription: inserted[0], secret }
}

function uniqueFilters(filters: EventFilter[]): EventFilter[] {
  const seen = new Set<string>()
  return filters.filter((f) => {
    const key = `${f.type}.${f.event}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

/** The org's subscription called `name`; 404 when the org has none by that name. */
export async function findSubscription(
  env: Env,
  orgId: string,
  name: string,
): Promise<SubscriptionRow> {
  const row = await dbOf(env)
    .select()
    .from(subscriptions)
    .where(and(eq(subscriptions.orgId, orgId), eq(subscriptions.name, name)))
    .get()
  if (!row) throw notFound(`subscription ${name}`)
  return row
}

/** Every subscription of the org. */
export function listSubscriptions(env: Env, orgId: string): Promise<SubscriptionRow[]> {
  return dbOf(env).select().from(subscriptions).where(eq(subscriptions.orgId, orgId)).all()
}

/** Deletes the org's subscription `name` and its delivery records; queued attempts are dropped. */
export async function deleteSubscription(env: Env, orgId: string, name: string): Promise<void> {
  const row = await findSubscription(env, orgId, name)
  await dbOf(env).delete(subscriptions).where(eq(subscriptions.id, row.id))
}

/** The plain signing secret of a subscription (for signing a delivery). */
export function signingSecret(env: Env, row: SubscriptionRow): Promise<string> {
  return openSecret(settingsOf(env).encryptionKey, row.secret, secretContext(row.id))
}

/**
 * A Slack webhook URL is itself the credential, so its last path part is masked when shown;
 * a webhook URL is shown as given.
 */
function shownUrl(row: SubscriptionRow): string {
  if (row.targetType !== 'slack') return row.url
  try {
    const url = new URL(row.url)
    const parts = url.pathname.split('/')
    parts[parts.length - 1] = '***'
    return `${url.origin}${parts.join('/')}`
  } catch {
    return '***'
  }
}

/** The subscription as the API shows it (never its secret). */
export function subscriptionView(row: SubscriptionRow) {
  return {
    name: row.name,
    target: { type: row.targetType as SubscriptionTarget['type'], url: shownUrl(row) },
    events: row.events ? (JSON.parse(row.events) as EventFilter[]) : ALL_EVENTS,
    allEvents: row.events === null,
    created: row.created,
    updated: row.updated,
  }
}
