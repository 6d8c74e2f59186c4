/**
 * When a failed webhook delivery is tried again. The delays grow from seconds to an hour and
 * then stay hourly; with the `events` queue's `max_retries = 100` (wrangler.toml) the attempts
 * of one delivery span about four days, well over the 24 h API.md asks for, before the message
 * goes to the dead-letter queue.
 */

/** Delay after the 1st, 2nd, ... failed attempt; the last value repeats. */
export const RETRY_SCHEDULE_SEC = [10, 30, 60, 120, 300, 600, 1800, 3600] as const

/** Cloudflare Queues refuse a retry delay above 12 hours. */
export const MAX_RETRY_DELAY_SEC = 43_200

/**
 * Seconds to wait after failed attempt number `attempt` (1 for the first), times `scale`
 * (the `EVENT_BACKOFF_SCALE` setting: 1 in production, 0 in tests so retries come at once).
 */
export function retryDelaySec(attempt: number, scale = 1): number {
  const index = Math.min(Math.max(attempt, 1), RETRY_SCHEDULE_SEC.length) - 1
  return Math.min(MAX_RETRY_DELAY_SEC, Math.round(RETRY_SCHEDULE_SEC[index] * scale))
}
