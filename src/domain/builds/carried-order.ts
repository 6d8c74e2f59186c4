/**
 * The order a new build's first image starts from. Training carries across builds (DESIGN.md):
 * blocks of the new build that match blocks of an earlier trained build inherit their
 * statistics, so the first image is already ordered. Until training statistics exist, every
 * build starts in native order.
 */
import type { Env } from '../../env'
import { carriedTrainingOrder } from '../training/carry'

/**
 * The carried order of `build` (image slot -> block index), or null for native order: the
 * statistics of the app's current build inherited by this build's blocks (training/carry.ts).
 */
export async function carriedOrder(
  env: Env,
  app: { id: string; orgId: string },
  build: { buildId: number; blocks: number },
): Promise<Uint32Array | null> {
  const order = await carriedTrainingOrder(env, app.id, build.buildId)
  return order && order.length === build.blocks ? order : null
}

/** The native order: slot i holds block i. */
export function nativeOrder(blockCount: number): Uint32Array {
  const order = new Uint32Array(blockCount)
  for (let i = 0; i < blockCount; i++) order[i] = i
  return order
}

/** The load profile of an image nobody has trained yet. */
export const NATIVE_PROFILE = { format: 'rockit-profile/1', bandwidths: [] as unknown[] }
