/**
 * The hand-over from a build's transfer (`dltar`: a download, or an upload to its URL) to its
 * `mkraw` task. Both paths end here; it is safe to call twice.
 */
import { and, eq, inArray } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { builds } from '../../db/schema'
import type { Env } from '../../env'
import { buildKeys } from '../../storage/keys'
import { submitTask } from '../../tasks/service'
import type { TaskRecord } from '../../tasks/types'

/** The mkraw task of a dltar task: the same suffix, so submitting twice submits once. */
export function mkrawTaskNameOf(dltarTaskName: string): string {
  return `mkraw_${dltarTaskName.replace(/^dltar_/, '')}`
}

/** Marks the build's tar stored and submits its mkraw task; returns the mkraw task name. */
export async function tarReceived(env: Env, dltar: TaskRecord): Promise<string> {
  const buildId = Number(dltar.params.buildId)
  const appId = dltar.appId as string
  const orgId = dltar.orgId as string
  await dbOf(env)
    .update(builds)
    .set({ state: 'importing', tarKey: buildKeys(orgId, appId, buildId).tar })
    .where(
      and(
        eq(builds.appId, appId),
        eq(builds.buildId, buildId),
        inArray(builds.state, ['pending', 'importing']),
      ),
    )
  return submitTask(env, {
    type: 'mkraw',
    taskName: mkrawTaskNameOf(dltar.taskName),
    orgId,
    appId,
    appName: dltar.appName,
    buildName: dltar.buildName,
    params: { buildId },
  })
}
