/**
 * First-access times are summarised in doubling bins: under 1 s, then [1, 2) s, [2, 4) s and
 * so on, the last bin holding everything from 1024 s. Early seconds decide the preload, so
 * they get the finest bins; a session's 20th minute needs little precision.
 */

/** Number of time bins. */
export const TIME_BINS = 12

const LAST_BIN_START_MS = 1000 * 2 ** (TIME_BINS - 2)

/** The bin of a time in milliseconds. */
export function timeBin(tMs: number): number {
  if (tMs < 1000) return 0
  if (tMs >= LAST_BIN_START_MS) return TIME_BINS - 1
  return 1 + Math.floor(Math.log2(tMs / 1000))
}

/** Lower bound (included) of a bin in milliseconds. */
export function binStart(bin: number): number {
  return bin === 0 ? 0 : 1000 * 2 ** (bin - 1)
}

/** Upper bound (excluded) of a bin; the open last bin is given the width of a doubling. */
export function binEnd(bin: number): number {
  return bin === 0 ? 1000 : 2 * binStart(bin)
}

/**
 * The time by which `target` units of a histogram `counts[from .. from + TIME_BINS)` scaled by
 * `scale` have accumulated, interpolating linearly inside the bin clipped to the known range
 * `floorMs .. ceilMs` of the samples. Undefined when the histogram never reaches `target`.
 */
export function histogramTime(
  counts: ArrayLike<number>,
  from: number,
  scale: number,
  target: number,
  floorMs = 0,
  ceilMs = Number.POSITIVE_INFINITY,
): number | undefined {
  let before = 0
  for (let bin = 0; bin < TIME_BINS; bin++) {
    const inBin = counts[from + bin] * scale
    if (inBin > 0 && before + inBin >= target - 1e-9) {
      const start = Math.max(binStart(bin), Math.min(floorMs, binEnd(bin)))
      const end = Math.max(start, Math.min(binEnd(bin), ceilMs))
      const share = Math.max(0, (target - before) / inBin)
      return start + share * (end - start)
    }
    before += inBin
  }
  return undefined
}
