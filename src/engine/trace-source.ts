/**
 * Traces one at a time. Evaluation and cross-validation never hold more than one trace: a
 * source says how many there are and loads one by index (from R2, a file, or memory).
 */
import type { FirstAccess } from './trace-types'

/** A numbered set of traces, loaded one at a time. */
export interface TraceSource {
  count: number
  load(index: number): Promise<FirstAccess> | FirstAccess
}

/**
 * A source over traces already in memory (tests, the CLI with small sets).
 *
 * @example memorySource([parsed.firstAccess])
 */
export function memorySource(traces: readonly FirstAccess[]): TraceSource {
  return { count: traces.length, load: (index) => traces[index] }
}

/** The traces of `source` at `indices`, renumbered from 0. */
export function subsetSource(source: TraceSource, indices: readonly number[]): TraceSource {
  return { count: indices.length, load: (index) => source.load(indices[index]) }
}

/** Calls `visit` with each trace of `source` in turn, loading the next only when it is done. */
export async function forEachTrace(
  source: TraceSource,
  visit: (trace: FirstAccess, index: number) => void | Promise<void>,
): Promise<void> {
  for (let index = 0; index < source.count; index++) {
    await visit(await source.load(index), index)
  }
}
