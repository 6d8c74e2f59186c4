/**
 * One import at a time per app. An mkraw task plans its patches from the builds that are ready
 * when it gets there; two imports running side by side would each miss the other, so a build
 * uploaded right after another would get no patch from it. An mkraw task therefore waits
 * before its first step while another mkraw of the app goes first: an older one not yet
 * finished, or any one already past this point (a retried older task waits for a newer one
 * that is running).
 */
import { and, eq, gt, inArray, lt, ne, or, sql } from 'drizzle-orm'
import { dbOf, isoNow } from '../../../db/client'
import { tasks } from '../../../db/schema'
import type { StepContext, StepOutcome } from '../../../tasks/types'

/** Seconds between checks while another import of the app goes first. */
export const MKRAW_WAIT_SEC = 3

/** An import that has not moved for this long (its Worker died) no longer holds others back. */
const STALE_SEC = 3600

/** The cursor of a task waiting for its turn. */
export interface QueuedCursor {
  phase: 'queued'
  waitingFor: string
}

/** The name of another mkraw task of the app that goes first, if any. */
export async function mkrawAhead(ctx: StepContext): Promise<string | undefined> {
  const { env, task } = ctx
  if (!task.appId) return undefined
  const phase = sql`json_extract(${tasks.cursor}, '$.phase')`
  const row = await dbOf(env)
    .select({ id: tasks.id })
    .from(tasks)
    .where(
      and(
        eq(tasks.type, 'mkraw'),
        eq(tasks.appId, task.appId),
        ne(tasks.id, task.taskName),
        inArray(tasks.state, ['submitted', 'running']),
        gt(tasks.updated, isoNow(-STALE_SEC)),
        or(
          lt(tasks.created, task.created),
          and(eq(tasks.created, task.created), lt(tasks.id, task.taskName)),
          sql`(${phase} IS NOT NULL AND ${phase} <> 'queued')`,
        ),
      ),
    )
    .get()
  return row?.id
}

/** The step outcome of a task that waits for `ahead`. */
export function waitFor(ahead: string): StepOutcome {
  const cursor: QueuedCursor = { phase: 'queued', waitingFor: ahead }
  return { kind: 'continue', cursor: { ...cursor }, progress: 0, delaySec: MKRAW_WAIT_SEC }
}
