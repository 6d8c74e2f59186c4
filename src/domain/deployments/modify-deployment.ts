/**
 * Changing a deployment (`PATCH /be/v1/deployments`): only what is sent changes, `null` removes
 * `label`, `downloadAuth` or `publicUrl`. Origin fields merge into the stored origin when the type stays the
 * same; a new `type` replaces the whole origin, so it must come complete. The merged result is
 * checked like a new one. Fixing credentials here and retrying the failed deploy is the recovery.
 * Refused while the deployment's removal task is submitted or running; once it failed, fixing the
 * origin here and retrying it is the recovery of a removal too.
 */
import { and, eq } from 'drizzle-orm'
import type { z } from 'zod'
import { dbOf, isoNow } from '../../db/client'
import { deployments } from '../../db/schema'
import { type Env, settingsOf } from '../../env'
import { conflict, invalidParam } from '../../http/errors'
import { issueDetails } from '../../http/router'
import { normalisePrefix, targetRules } from './create-deployment'
import {
  type DeploymentRow,
  findDeployment,
  storedDownloadAuth,
  storedOrigin,
} from './deployment-store'
import {
  type DownloadAuthSettings,
  type downloadAuthPatchSchema,
  downloadAuthSchema,
  normaliseOrigin,
  normalisePublicUrl,
  type OriginSettings,
  type originPatchSchema,
  originSchema,
} from './origin-settings'
import { PRUNING, removalTask } from './removal-state'
import { openDownloadAuth, openOrigin, sealDownloadAuth, sealOrigin } from './secret-box'

export interface DeploymentChanges {
  name: string
  label?: string | null
  originPrefix?: string
  origin?: z.infer<typeof originPatchSchema>
  downloadAuth?: z.infer<typeof downloadAuthPatchSchema> | null
  publicUrl?: string | null
}

function prefixed(field: string, issues: z.core.$ZodIssue[]) {
  return issueDetails(issues).map((d) => ({
    field: d.field === '(body)' ? field : `${field}.${d.field}`,
    reason: d.reason,
  }))
}

/** Merges sent fields over stored ones; a different `type` starts from nothing. */
function merge<T extends { type: string }>(
  stored: T | null,
  sent: Partial<T>,
): Record<string, unknown> {
  if (!stored || (sent.type !== undefined && sent.type !== stored.type)) return { ...sent }
  return { ...stored, ...sent, type: stored.type }
}

async function openedOrigin(key: string, row: DeploymentRow): Promise<OriginSettings> {
  const stored = storedOrigin(row)
  try {
    return await openOrigin(key, row.id, stored)
  } catch {
    // The instance key changed: the old secret is lost, so the PATCH must send it again.
    const { secretAccessKey: _s, key: _k, ...rest } = stored as unknown as Record<string, unknown>
    return rest as unknown as OriginSettings
  }
}

async function openedAuth(key: string, row: DeploymentRow): Promise<DownloadAuthSettings | null> {
  const stored = storedDownloadAuth(row)
  if (!stored) return null
  try {
    return await openDownloadAuth(key, row.id, stored)
  } catch {
    const { key: _k, ...rest } = stored
    return rest as DownloadAuthSettings
  }
}

/** The columns `changes` sets on `row` (merged over what `row` holds); 400 for a bad result. */
async function changedColumns(
  env: Env,
  row: DeploymentRow,
  changes: DeploymentChanges,
): Promise<Partial<typeof deployments.$inferInsert>> {
  const key = settingsOf(env).encryptionKey
  const update: Partial<typeof deployments.$inferInsert> = {}

  if (changes.label !== undefined) update.label = changes.label
  if (changes.publicUrl === null) update.publicUrl = null
  else if (changes.publicUrl !== undefined) {
    const publicUrl = normalisePublicUrl(changes.publicUrl)
    if ('problem' in publicUrl) {
      throw invalidParam([{ field: 'publicUrl', reason: publicUrl.problem }])
    }
    update.publicUrl = publicUrl.url
  }
  if (changes.originPrefix !== undefined) {
    update.originPrefix = normalisePrefix(changes.originPrefix)
    if (update.originPrefix !== row.originPrefix) update.rangeVerified = false
  }

  if (changes.origin !== undefined) {
    const merged = merge(await openedOrigin(key, row), changes.origin as Partial<OriginSettings>)
    const parsed = originSchema.safeParse(merged)
    if (!parsed.success) throw invalidParam(prefixed('origin', parsed.error.issues))
    const origin = normaliseOrigin(parsed.data, targetRules(env))
    if ('problems' in origin) throw invalidParam(origin.problems)
    update.origin = JSON.stringify(await sealOrigin(key, row.id, origin.settings))
    update.rangeVerified = false
  }

  if (changes.downloadAuth === null) update.downloadAuth = null
  else if (changes.downloadAuth !== undefined) {
    const merged = merge(
      await openedAuth(key, row),
      changes.downloadAuth as Partial<DownloadAuthSettings>,
    )
    const parsed = downloadAuthSchema.safeParse(merged)
    if (!parsed.success) throw invalidParam(prefixed('downloadAuth', parsed.error.issues))
    update.downloadAuth = JSON.stringify(await sealDownloadAuth(key, row.id, parsed.data))
  }
  return update
}

/** Tries to write a PATCH this many times when others keep changing the deployment meanwhile. */
const ATTEMPTS = 5

/** Now, or just after `previous` when the clock has not moved past it: `updated` is the version. */
function laterThan(previous: string): string {
  const now = isoNow()
  return now > previous ? now : new Date(Date.parse(previous) + 1).toISOString()
}

/**
 * Applies `changes`; 404 for an unknown name, 400 for an unusable result, 409 while the
 * deployment's removal is under way. The write goes only if the row is still the one the merge
 * read (`updated` unchanged); otherwise the merge runs again on the new row, so concurrent
 * PATCHes of different fields all land. 409 when that keeps failing.
 */
export async function modifyDeployment(
  env: Env,
  orgId: string,
  changes: DeploymentChanges,
): Promise<DeploymentRow> {
  const db = dbOf(env)
  for (let attempt = 1; ; attempt++) {
    const row = await findDeployment(env, orgId, changes.name)
    const pruning = await removalTask(env, orgId, row.id, PRUNING)
    if (pruning) {
      throw conflict(`deployment ${row.name} is being deleted (task ${pruning}); it cannot change`)
    }
    const update = await changedColumns(env, row, changes)
    const saved = await db
      .update(deployments)
      .set({ ...update, updated: laterThan(row.updated) })
      .where(and(eq(deployments.id, row.id), eq(deployments.updated, row.updated)))
      .returning()
    if (saved.length) return saved[0]
    if (attempt >= ATTEMPTS) {
      throw conflict(`deployment ${row.name} kept changing meanwhile; send the change again`)
    }
  }
}
