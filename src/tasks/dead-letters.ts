/**
 * Messages the `tasks` queue gave up on: the task failed for good without recording it (its
 * step kept crashing). Mark it failed so it never looks stuck; `retryTask` can resume it.
 */
import { and, eq, inArray } from 'drizzle-orm'
import { dbOf, isoNow } from '../db/client'
import { tasks } from '../db/schema'
import type { Env } from '../env'
import type { TaskMessage } from './messages'

export async function handleDeadTasks(batch: MessageBatch<TaskMessage>, env: Env): Promise<void> {
  for (const message of batch.messages) {
    const exception = { code: 'internal', message: 'the task step kept failing; retry the task' }
    await dbOf(env)
      .update(tasks)
      .set({
        state: 'failed',
        exception: JSON.stringify(exception),
        ended: isoNow(),
        updated: isoNow(),
      })
      .where(
        and(
          eq(tasks.id, message.body.taskName),
          eq(tasks.seq, message.body.seq),
          inArray(tasks.state, ['submitted', 'running']),
        ),
      )
    message.ack()
  }
}
