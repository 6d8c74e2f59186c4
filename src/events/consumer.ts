/** The `events` queue consumer: webhook and Slack deliveries with back-off, then dead letters. */
import type { Env } from '../env'
import type { EventMessage } from './messages'

// TODO(#4): deliver webhooks (signed POST, back-off over 24 h, dead letters).
export async function handleEventBatch(
  batch: MessageBatch<EventMessage>,
  _env: Env,
): Promise<void> {
  for (const message of batch.messages) message.ack()
}

export async function handleDeadEvents(
  batch: MessageBatch<EventMessage>,
  _env: Env,
): Promise<void> {
  for (const message of batch.messages) message.ack()
}
