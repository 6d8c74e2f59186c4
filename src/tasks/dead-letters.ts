/**
 * Messages the `tasks` queue gave up on: the task failed for good without recording it (its
 * step kept crashing). It takes the path of any failed task: marked failed (so it never looks
 * stuck), the `error` event, then its type's `onFailed` (a failed `deploy` marks its deployment
 * and locks the app). `retryTask` can resume it.
 */
import { and, eq, inArray } from 'drizzle-orm'
import { dbOf, isoNow } from '../db/client'
import { tasks } from '../db/schema'
import { type Env, settingsOf } from '../env'
import { emitTaskEvent } from '../events/emit'
import { createLogger } from '../http/log'
import { taskHandlers } from './handlers'
import type { TaskMessage } from './messages'
import { stepContext } from './runner'
import { loadTask } from './store'
import type { TaskException, TaskRecord } from './types'

export async function handleDeadTasks(batch: MessageBatch<TaskMessage>, env: Env): Promise<void> {
  for (const message of batch.messages) {
    const { taskName, seq } = message.body
    const log = createLogger(settingsOf(env).logLevel, { queue: batch.queue, taskName })
    const exception: TaskException = {
      code: 'internal',
      message: 'the task step kept failing; retry the task',
    }
    const failed = await dbOf(env)
      .update(tasks)
      .set({
        state: 'failed',
        exception: JSON.stringify(exception),
        ended: isoNow(),
        updated: isoNow(),
      })
      .where(
        and(
          eq(tasks.id, taskName),
          eq(tasks.seq, seq),
          inArray(tasks.state, ['submitted', 'running']),
        ),
      )
      .returning({ id: tasks.id })
    if (failed.length) {
      const record = (await loadTask(env, taskName)) as TaskRecord
      log.warn('task failed in the dead-letter queue', { type: record.type })
      await emitTaskEvent(env, record, 'error')
      await taskHandlers[record.type].onFailed?.(stepContext(env, record, log), exception)
    }
    message.ack()
  }
}
