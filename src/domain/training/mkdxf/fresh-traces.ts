/**
 * Which of a run's traces the published image cannot have been trained on. The candidate is
 * measured out of fold, each trace on an order learnt from other traces; the published image
 * was learnt from the traces counted when its own run planned, so on those it is measured
 * in-sample and looks better than it will be for the next session. When enough traces arrived
 * after it was made, the run decides on those alone (docs/training.md, section 9).
 */
import { imageKeys } from '../../../storage/keys'
import type { RunJob } from './run-job'

/** Traces newer than the published image the decision needs before it keeps to them alone. */
export const MIN_FRESH_TRACES = 10

/** The first image of a build (mkraw's) is in tar order or carried from an older build. */
function isFirstImage(dxfName: string): boolean {
  return dxfName.endsWith('-01')
}

/**
 * How many of the run's traces (their acceptance times, oldest first) arrived after image
 * `current` was written, so after its run counted what it trained on: all of them for a
 * build's first image, whose order learnt nothing from this build's traces; undefined when
 * the image is not found.
 */
export async function freshTraceCount(
  job: RunJob,
  current: string,
  created: readonly string[],
): Promise<number | undefined> {
  if (isFirstImage(current)) return created.length
  const image = await job.env.BUCKET.head(imageKeys(job.orgId, job.app.id, current).image)
  if (!image) return undefined
  // Times as D1 writes them (ISO 8601 in UTC, milliseconds), so they compare as text.
  const written = image.uploaded.toISOString()
  return created.filter((time) => time > written).length
}

/**
 * The first trace (in the run's list, oldest first) the decision is taken on: the fresh ones
 * when there are at least {@link MIN_FRESH_TRACES} of them, otherwise every trace.
 */
export function decisionFromTrace(listed: number, fresh: number | undefined): number {
  if (fresh === undefined || fresh < MIN_FRESH_TRACES || fresh >= listed) return 0
  return listed - fresh
}
