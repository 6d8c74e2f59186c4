/**
 * Patches into a run's new image. A patch leads to one image of its build; when a run replaces
 * the build's image, every patch recorded into the build is made again against the new image
 * (same path, same base build), so a launcher that applies one ends up with the image the
 * client API names and can apply the next build's patch to it.
 */

import type { Composition } from '../../builds/mkraw/composition'
import type { PatchTarget } from '../../builds/mkraw/patches'
import type { RunJob } from './run-job'

/** The patches' target: the run's image, composed from the run's scratch header and map. */
export function runPatchTarget(job: RunJob, image: Composition): PatchTarget {
  const base = (fromBuildId: number) => `${job.scratch.prefix}patch-${fromBuildId}`
  return {
    env: job.env,
    orgId: job.orgId,
    appId: job.app.id,
    buildId: job.buildId,
    image,
    scratch: {
      header: (fromBuildId) => `${base(fromBuildId)}-header.bin`,
      list: (fromBuildId) => `${base(fromBuildId)}-blocks.bin`,
    },
  }
}
