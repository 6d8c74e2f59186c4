/**
 * A task whose step message was lost (a queue dispatch that never reached the Worker, a crash
 * between saving progress and queuing the next step) would stay `running` for ever. The cron
 * queues the current step of any task that has not moved for a while; the runner drops the
 * message if the step already ran, so queuing it twice changes nothing.
 */
import { and, asc, eq, lt } from 'drizzle-orm'
import { dbOf } from '../db/client'
import { tasks } from '../db/schema'
import type { Env } from '../env'

/** A running task untouched for this long gets its current step queued again. */
export const STUCK_AFTER_SEC = 600

export async function resendStuckTasks(env: Env, now: Date): Promise<number> {
  const before = new Date(now.getTime() - STUCK_AFTER_SEC * 1000).toISOString()
  const stuck = await dbOf(env)
    .select({ taskName: tasks.id, seq: tasks.seq })
    .from(tasks)
    .where(and(eq(tasks.state, 'running'), lt(tasks.updated, before)))
    .orderBy(asc(tasks.updated))
    .limit(50)
    .all()
  if (stuck.length) {
    await env.TASKS.sendBatch(
      stuck.map((task) => ({ body: { taskName: task.taskName, seq: task.seq } })),
    )
  }
  return stuck.length
}
