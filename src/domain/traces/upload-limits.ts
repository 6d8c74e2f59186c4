/**
 * How fast one app may upload traces: 50 uploads in any fixed 5 s window, 10 per second on
 * average with room for a burst (many sessions ending at once after a patch day).
 */
import type { FixedWindow } from '../auth/rate-limit'

/** Uploads per window and the window's length. */
export const TRACE_UPLOAD_LIMIT = { uploads: 50, windowSec: 5 } as const

/** The rate-limit window of `appId`'s uploads (a D1 counter, see rate-limit.ts). */
export function traceUploadWindow(appId: string): FixedWindow {
  return {
    key: `traces:${appId}`,
    limit: TRACE_UPLOAD_LIMIT.uploads,
    windowSec: TRACE_UPLOAD_LIMIT.windowSec,
  }
}
