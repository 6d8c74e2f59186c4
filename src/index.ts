/**
 * The Worker: HTTP through the Hono app, the `tasks` and `events` queues (and their dead-letter
 * queues), the cron trigger, and the per-app Durable Object class.
 */
import { createApp } from './app'
import { runCron } from './cron'
import type { Env } from './env'
import { handleDeadEvents, handleEventBatch } from './events/consumer'
import type { EventMessage } from './events/messages'
import { handleDeadTasks } from './tasks/dead-letters'
import type { TaskMessage } from './tasks/messages'
import { handleTaskBatch } from './tasks/runner'

export { AppCoordinator } from './coordinator/app-coordinator'

const app = createApp()

export default {
  fetch: app.fetch,

  async queue(batch: MessageBatch<unknown>, env: Env): Promise<void> {
    switch (batch.queue) {
      case 'rockit-tasks':
        return handleTaskBatch(batch as MessageBatch<TaskMessage>, env)
      case 'rockit-tasks-dlq':
        return handleDeadTasks(batch as MessageBatch<TaskMessage>, env)
      case 'rockit-events':
        return handleEventBatch(batch as MessageBatch<EventMessage>, env)
      case 'rockit-events-dlq':
        return handleDeadEvents(batch as MessageBatch<EventMessage>, env)
      default:
        for (const message of batch.messages) message.ack()
    }
  },

  async scheduled(controller: ScheduledController, env: Env): Promise<void> {
    await runCron(env, new Date(controller.scheduledTime))
  },
} satisfies ExportedHandler<Env>
