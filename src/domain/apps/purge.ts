/**
 * Deleting everything under an R2 prefix in bounded batches: list up to 1,000 keys, delete them,
 * repeat. Listing always starts from the front because deleted keys are gone, so a retry after a
 * failure simply continues.
 */

/** Keys per list and per delete call (R2's maximum for both). */
const BATCH = 1000

/** What a purge did. */
export interface PurgeResult {
  /** Objects deleted. */
  deleted: number
  /** True when objects remain because `maxObjects` was reached. */
  more: boolean
}

/**
 * Deletes up to `maxObjects` objects under `prefix`. The prefix must end with `/` (or be a name
 * stem that nothing else shares) so a purge can never reach a neighbour.
 */
export async function purgePrefix(
  bucket: R2Bucket,
  prefix: string,
  maxObjects = 10_000,
): Promise<PurgeResult> {
  if (!prefix.startsWith('orgs/')) throw new Error(`refusing to purge outside orgs/: ${prefix}`)
  let deleted = 0
  while (deleted < maxObjects) {
    const listed = await bucket.list({ prefix, limit: Math.min(BATCH, maxObjects - deleted) })
    if (listed.objects.length === 0) return { deleted, more: false }
    await bucket.delete(listed.objects.map((object) => object.key))
    deleted += listed.objects.length
    if (!listed.truncated) return { deleted, more: false }
  }
  const rest = await bucket.list({ prefix, limit: 1 })
  return { deleted, more: rest.objects.length > 0 }
}
