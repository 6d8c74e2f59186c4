/**
 * The traces a training run measures with: the newest traces of the build when the
 * evaluation starts, listed once in a scratch object so that every step of the run measures
 * the same set, and streamed from R2 one at a time. Each evaluation step reads each trace at
 * most once, so nothing is kept between loads.
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

/** The newest traces of `buildId`, oldest first: the R2 key of each one's stored (normalised)
 * form and when it was accepted. */
export async function newestTraceRows(
  env: Env,
  owner: { appId: string; buildId: number },
): Promise<Array<{ normKey: string; created: string }>> {
  const rows = await dbOf(env)
    .select({ normKey: traces.normKey, created: traces.created })
    .from(traces)
    .where(and(eq(traces.appId, owner.appId), eq(traces.buildId, owner.buildId)))
    .orderBy(desc(traces.created), desc(traces.id))
    .limit(MAX_RUN_TRACES)
    .all()
  return rows.reverse()
}

/** R2 keys of the stored (normalised) form of the newest traces of `buildId`, oldest first. */
export async function newestTraceKeys(
  env: Env,
  owner: { appId: string; buildId: number },
): Promise<string[]> {
  return (await newestTraceRows(env, owner)).map((row) => row.normKey)
}

/** The traces stored at `keys` as a source, each read from R2 when loaded. */
export function storedTraces(env: Env, keys: readonly string[]): TraceSource {
  return {
    count: keys.length,
    async load(index: number): Promise<FirstAccess> {
      const object = await env.BUCKET.get(keys[index])
      // A trace removed meanwhile (its app's data being pruned) counts as touching nothing.
      if (!object) return { blocks: new Uint32Array(0), tMs: new Uint32Array(0) }
      return decodeNormalisedTrace(new Uint8Array(await object.arrayBuffer())).firstAccess
    },
  }
}
