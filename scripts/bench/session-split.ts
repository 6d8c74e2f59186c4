/** How the preload benchmarks and the demo divide their recorded sessions. */

/**
 * Splits recorded sessions into those uploaded and `heldOutCount` held out: every k-th
 * session is held out, so the held-out ones spread over the session plans.
 */
export function splitSessions<T>(sessions: T[], heldOutCount: number) {
  const stride = sessions.length / heldOutCount
  const heldOutIndex = new Set(
    Array.from({ length: heldOutCount }, (_, i) => Math.floor(i * stride + stride - 1)),
  )
  return {
    heldOut: sessions.filter((_, i) => heldOutIndex.has(i)),
    uploaded: sessions.filter((_, i) => !heldOutIndex.has(i)),
  }
}
