/**
 * The load profile published beside an image as profile.json: for a set of bandwidths, the
 * preload that let the training traces start without a stall, at the median and at p90. A
 * launcher that measures its bandwidth reads the row at or below it and waits for that many
 * bytes before starting the game. The shape is documented in docs/training.md.
 */
import { type BuildModel, modelIndex } from './build-model'
import { quantile } from './evaluate'
import { blockEnds } from './image-layout'
import { BYTES_PER_MBIT, preloadFromEnds } from './preload'
import { forEachTrace, type TraceSource } from './trace-source'

/** Format tag of profile.json. */
export const PROFILE_FORMAT = 'rockit-profile/1'

/** Bandwidths of a profile in Mbit/s. */
export const PROFILE_MBITS: readonly number[] = [10, 25, 50, 100, 250, 500, 1000]

/** A preload: bytes to have before starting, and how long they take at that bandwidth. */
export interface ProfilePreload {
  preloadBytes: number
  seconds: number
}

/** One bandwidth of a profile. */
export interface ProfileBandwidth {
  mbit: number
  bytesPerSecond: number
  median: ProfilePreload
  p90: ProfilePreload
}

/** Contents of profile.json. */
export interface LoadProfile {
  format: typeof PROFILE_FORMAT
  /** Bytes of block data in the image (the preload counts from its first block). */
  imageBytes: number
  blockSize: number
  /** Training traces measured; 0 means no evidence, and every preload is the whole image. */
  traces: number
  bandwidths: ProfileBandwidth[]
}

/**
 * The load profile of an image in `order`, measured on `traces` (one loaded at a time).
 *
 * @example JSON.stringify(await loadProfile(model, order, traces))
 */
export async function loadProfile(
  model: BuildModel,
  order: Uint32Array,
  traces: TraceSource,
  opts: { mbits?: readonly number[] } = {},
): Promise<LoadProfile> {
  const mbits = opts.mbits ?? PROFILE_MBITS
  const bandwidths = mbits.map((mbit) => mbit * BYTES_PER_MBIT)
  const imageBytes = modelIndex(model).totalBytes
  const ends = blockEnds(model, order)
  const samples: number[][] = mbits.map(() => [])
  await forEachTrace(traces, (trace) => {
    preloadFromEnds(ends, trace, bandwidths).forEach((bytes, b) => {
      samples[b].push(bytes)
    })
  })

  const preload = (values: number[], q: number, bytesPerSecond: number): ProfilePreload => {
    const bytes = values.length === 0 ? imageBytes : Math.ceil(quantile(values, q))
    return { preloadBytes: bytes, seconds: bytes / bytesPerSecond }
  }
  return {
    format: PROFILE_FORMAT,
    imageBytes,
    blockSize: model.blockSize,
    traces: traces.count,
    bandwidths: mbits.map((mbit, b) => ({
      mbit,
      bytesPerSecond: bandwidths[b],
      median: preload(samples[b], 0.5, bandwidths[b]),
      p90: preload(samples[b], 0.9, bandwidths[b]),
    })),
  }
}

/**
 * The preload a launcher with `mbit` Mbit/s should wait for: the profile's row at the highest
 * bandwidth not above `mbit` (a slower line needs more), or the whole image below them all.
 */
export function profilePreload(
  profile: LoadProfile,
  mbit: number,
  level: 'median' | 'p90' = 'p90',
): number {
  let best: ProfileBandwidth | undefined
  for (const row of profile.bandwidths) {
    if (row.mbit <= mbit && (!best || row.mbit > best.mbit)) best = row
  }
  return best ? best[level].preloadBytes : profile.imageBytes
}
