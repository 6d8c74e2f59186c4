/**
 * Task events for webhook subscribers. Only `dltar`, `mkraw`, `mkdxf` and `deploy` tasks emit,
 * with `submit`, `begin`, `end` and `error`. Each matching subscription of the task's org gets
 * one delivery row and one message on the `events` queue; delivery never blocks the task.
 */
import { eq } from 'drizzle-orm'
import { dbOf } from '../db/client'
import { orgs, subscriptions } from '../db/schema'
import type { Env } from '../env'
import type { TaskRecord } from '../tasks/types'
import { enqueueDeliveries } from './deliveries'

export const EVENT_TASK_TYPES = ['dltar', 'mkraw', 'mkdxf', 'deploy'] as const
export const EVENT_KINDS = ['submit', 'begin', 'end', 'error'] as const
export type EventKind = (typeof EVENT_KINDS)[number]

/** The body of a webhook call (API.md, Subscriptions). */
export interface TaskEvent {
  eventId: string
  type: string
  event: EventKind
  orgName: string
  appName: string | null
  buildName?: string
  dxfName?: string
  taskName: string
  time: string
  exception?: unknown
  deployment?: string
}

export async function emitTaskEvent(env: Env, task: TaskRecord, event: EventKind): Promise<void> {
  if (!task.orgId || !(EVENT_TASK_TYPES as readonly string[]).includes(task.type)) return
  const db = dbOf(env)
  const org = await db.select({ name: orgs.name }).from(orgs).where(eq(orgs.id, task.orgId)).get()
  if (!org) return
  const subs = await db
    .select()
    .from(subscriptions)
    .where(eq(subscriptions.orgId, task.orgId))
    .all()
  if (subs.length === 0) return

  const body: TaskEvent = {
    // Deterministic per task, state and step, so a step that runs twice emits the same event id.
    eventId: `${task.taskName}.${event}.${task.seq}`,
    type: task.type,
    event,
    orgName: org.name,
    appName: task.appName,
    buildName: task.buildName ?? undefined,
    dxfName: (task.result?.dxfName as string | undefined) ?? undefined,
    taskName: task.taskName,
    time: new Date().toISOString(),
    exception: event === 'error' ? (task.exception ?? undefined) : undefined,
    deployment: (task.params.deployment as string | undefined) ?? undefined,
  }
  const matching = subs.filter((sub) => {
    if (!sub.events) return true
    const wanted = JSON.parse(sub.events) as { type: string; event: string }[]
    return wanted.some((w) => w.type === body.type && w.event === body.event)
  })
  await enqueueDeliveries(env, matching, body)
}
