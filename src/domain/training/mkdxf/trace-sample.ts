/**
 * The traces a training run measures with: the newest traces of the build, streamed from R2
 * one at a time. Cross-validation reads each trace once per fold, so the compact stored form
 * (about 2 bytes per block a trace touched) is kept in memory up to a budget and decoded on
 * each use; traces past the budget are read from R2 again.
 */
import { and, desc, eq } from 'drizzle-orm'
import { dbOf } from '../../../db/client'
import { traces } from '../../../db/schema'
import { decodeNormalisedTrace } from '../../../engine/trace-codec'
import type { TraceSource } from '../../../engine/trace-source'
import type { FirstAccess } from '../../../engine/trace-types'
import type { Env } from '../../../env'

/** Traces of a build a run measures with at most (the newest). */
export const MAX_RUN_TRACES = 500
/** Bytes of stored traces a step keeps in memory. */
export const TRACE_CACHE_BYTES = 16 * 1024 * 1024

/** A numbered source over the newest traces of a build, oldest first. */
export interface RunTraces extends TraceSource {
  /** R2 reads made (each trace is read at least once). */
  reads: number
}

/** The newest traces of `buildId` (at most {@link MAX_RUN_TRACES}) as a trace source. */
export async function runTraces(
  env: Env,
  owner: { appId: string; buildId: number },
): Promise<RunTraces> {
  const rows = await dbOf(env)
    .select({ normKey: traces.normKey })
    .from(traces)
    .where(and(eq(traces.appId, owner.appId), eq(traces.buildId, owner.buildId)))
    .orderBy(desc(traces.created), desc(traces.id))
    .limit(MAX_RUN_TRACES)
    .all()
  const keys = rows.map((row) => row.normKey).reverse()
  const kept = new Map<number, Uint8Array>()
  let keptBytes = 0

  const source: RunTraces = {
    count: keys.length,
    reads: 0,
    async load(index: number): Promise<FirstAccess> {
      let bytes = kept.get(index)
      if (!bytes) {
        const object = await env.BUCKET.get(keys[index])
        source.reads++
        // A trace removed meanwhile (its app's data being pruned) counts as touching nothing.
        if (!object) return { blocks: new Uint32Array(0), tMs: new Uint32Array(0) }
        bytes = new Uint8Array(await object.arrayBuffer())
        if (keptBytes + bytes.length <= TRACE_CACHE_BYTES) {
          kept.set(index, bytes)
          keptBytes += bytes.length
        }
      }
      return decodeNormalisedTrace(bytes).firstAccess
    },
  }
  return source
}
