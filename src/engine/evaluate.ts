/**
 * Quality reports: P* of held-out traces on several orders, summarised as the median and p90
 * over traces at 25, 100 and 1000 Mbit/s, as a fraction of the image and in seconds. Every
 * report has the rows `full download`, `native`, `file-level`, `image` and `ideal` (the
 * traces' own orders, a lower bound), in that order, with any extra rows before `ideal`.
 */
import { type BuildModel, blockLengths, modelIndex } from './build-model'
import { blockEnds } from './image-layout'
import { BYTES_PER_MBIT, idealPreload, nativePreload, preloadFromEnds } from './preload'
import { forEachTrace, type TraceSource } from './trace-source'
import type { FirstAccess } from './trace-types'

/** Bandwidths every report shows, in Mbit/s. */
export const REPORT_MBITS: readonly number[] = [25, 100, 1000]

/** One summary figure: a preload in bytes, as a share of the image, and as time to play. */
export interface PreloadFigure {
  bytes: number
  fraction: number
  seconds: number
}

/** A row's figures at one bandwidth. */
export interface RowAtBandwidth {
  mbit: number
  median: PreloadFigure
  p90: PreloadFigure
}

/** One order's line of a report. */
export interface QualityRow {
  name: string
  bandwidths: RowAtBandwidth[]
}

/** A quality report over held-out traces. */
export interface QualityReport {
  traces: number
  imageBytes: number
  rows: QualityRow[]
}

/** The nearest-rank quantile (q in (0, 1]) of values; 0 for none. */
export function quantile(values: ArrayLike<number>, q: number): number {
  if (values.length === 0) return 0
  const sorted = Float64Array.from(values).sort()
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]
}

/** Where `tallyTrace` puts one trace's P* of each row. */
export interface PreloadSink {
  /** Bandwidths in bytes/s, in the order `add` expects. */
  readonly bandwidths: readonly number[]
  /** Records one trace's P* (bytes, one per bandwidth) for row `name`. */
  add(name: string, preload: Float64Array): void
}

/** Collects P* per trace, per row and bandwidth, and summarises them. */
export class PreloadTally implements PreloadSink {
  private readonly samples = new Map<string, number[][]>()

  constructor(
    private readonly imageBytes: number,
    private readonly mbits: readonly number[] = REPORT_MBITS,
  ) {}

  /** Bandwidths in bytes/s, in the order `add` expects. */
  get bandwidths(): number[] {
    return this.mbits.map((mbit) => mbit * BYTES_PER_MBIT)
  }

  /** Records one trace's P* (bytes, one per bandwidth) for row `name`. */
  add(name: string, preload: Float64Array): void {
    let row = this.samples.get(name)
    if (!row) {
      row = this.mbits.map(() => [])
      this.samples.set(name, row)
    }
    preload.forEach((bytes, b) => {
      row[b].push(bytes)
    })
  }

  /** The report: `full download` first, then the rows as added, `ideal` last. */
  report(): QualityReport {
    const names = [...this.samples.keys()].filter((name) => name !== 'ideal')
    if (this.samples.has('ideal')) names.push('ideal')
    const traces = this.samples.get(names[0] ?? '')?.[0].length ?? 0
    const figure = (bytes: number, bandwidth: number): PreloadFigure => ({
      bytes,
      fraction: this.imageBytes === 0 ? 0 : bytes / this.imageBytes,
      seconds: bytes / bandwidth,
    })
    const row = (name: string, pick: (b: number, q: number) => number): QualityRow => ({
      name,
      bandwidths: this.mbits.map((mbit, b) => ({
        mbit,
        median: figure(pick(b, 0.5), mbit * BYTES_PER_MBIT),
        p90: figure(pick(b, 0.9), mbit * BYTES_PER_MBIT),
      })),
    })
    return {
      traces,
      imageBytes: this.imageBytes,
      rows: [
        row('full download', () => this.imageBytes),
        ...names.map((name) => row(name, (b, q) => quantile(this.samples.get(name)![b], q))),
      ],
    }
  }
}

/** Rows in the order reports show them. */
const ROW_ORDER = ['native', 'file-level', 'image']

/**
 * P* of every trace of `traces` on each of `orders` (by row name: `native`, `file-level`,
 * `image` or others) and on its own ideal order. `native` is computed without an order when
 * absent. Holds one trace and one block-end table per order (8 bytes per block each).
 *
 * @example await evaluateOrders(model, { image: order, 'file-level': reference }, traces)
 */
export async function evaluateOrders(
  model: BuildModel,
  orders: Record<string, Uint32Array>,
  traces: TraceSource,
  opts: { mbits?: readonly number[] } = {},
): Promise<QualityReport> {
  const tally = new PreloadTally(modelIndex(model).totalBytes, opts.mbits)
  const names = Object.keys(orders).sort(
    (a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0),
  )
  const ends = names
    .filter((name) => name !== 'native')
    .map((name) => blockEnds(model, orders[name]))
  const lengths = blockLengths(model)
  await forEachTrace(traces, (trace) => {
    tallyTrace(tally, model, lengths, trace, names, ends)
  })
  return tally.report()
}

function rank(name: string): number {
  const index = ROW_ORDER.indexOf(name)
  return index === -1 ? ROW_ORDER.length : index
}

/**
 * Adds one trace's P* on `native` (always), each named order (`ends` in the order of `names`
 * without `native`) and its ideal.
 */
export function tallyTrace(
  tally: PreloadSink,
  model: BuildModel,
  lengths: Uint32Array,
  trace: FirstAccess,
  names: readonly string[],
  ends: readonly Float64Array[],
): void {
  const bandwidths = tally.bandwidths
  tally.add('native', nativePreload(model, trace, bandwidths))
  let at = 0
  for (const name of names) {
    if (name === 'native') continue
    tally.add(name, preloadFromEnds(ends[at++], trace, bandwidths))
  }
  tally.add('ideal', idealPreload(lengths, trace, bandwidths))
}
