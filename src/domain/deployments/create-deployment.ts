/** Creating a deployment: checked origin, secrets sealed, unique name in the org. */
import { and, eq } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { deployments } from '../../db/schema'
import { type Env, settingsOf } from '../../env'
import { conflict, invalidParam } from '../../http/errors'
import { newId } from '../auth/secrets'
import type { DeploymentRow } from './deployment-store'
import {
  type DownloadAuthInput,
  normaliseOrigin,
  normalisePublicUrl,
  type OriginInput,
  type TargetRules,
} from './origin-settings'
import { sealDownloadAuth, sealOrigin } from './secret-box'

export interface CreateDeploymentInput {
  name: string
  label?: string
  originPrefix: string
  origin: OriginInput
  downloadAuth?: DownloadAuthInput
  publicUrl?: string
}

/** Where this instance may send requests (`ALLOW_PRIVATE_TARGETS`, never to itself). */
export function targetRules(env: Env): TargetRules {
  const settings = settingsOf(env)
  return {
    allowPrivateTargets: settings.allowPrivateTargets,
    selfUrl: settings.publicUrl || undefined,
  }
}

/** `/games/eu/` -> `games/eu`: the prefix without surrounding slashes. */
export function normalisePrefix(prefix: string): string {
  return prefix.replace(/^\/+|\/+$/g, '')
}

/** Creates the deployment; 400 for an unusable origin, 409 when the name is taken. */
export async function createDeployment(
  env: Env,
  orgId: string,
  input: CreateDeploymentInput,
): Promise<DeploymentRow> {
  const origin = normaliseOrigin(input.origin, targetRules(env))
  if ('problems' in origin) throw invalidParam(origin.problems)
  const publicUrl = input.publicUrl === undefined ? null : normalisePublicUrl(input.publicUrl)
  if (publicUrl && 'problem' in publicUrl) {
    throw invalidParam([{ field: 'publicUrl', reason: publicUrl.problem }])
  }

  const db = dbOf(env)
  const taken = await db
    .select({ id: deployments.id })
    .from(deployments)
    .where(and(eq(deployments.orgId, orgId), eq(deployments.name, input.name)))
    .get()
  if (taken) throw conflict(`deployment ${input.name} exists already`)

  const id = newId()
  const key = settingsOf(env).encryptionKey
  const sealedOrigin = await sealOrigin(key, id, origin.settings)
  const sealedAuth = input.downloadAuth ? await sealDownloadAuth(key, id, input.downloadAuth) : null

  try {
    await db.insert(deployments).values({
      id,
      orgId,
      name: input.name,
      label: input.label ?? null,
      originPrefix: normalisePrefix(input.originPrefix),
      origin: JSON.stringify(sealedOrigin),
      downloadAuth: sealedAuth ? JSON.stringify(sealedAuth) : null,
      publicUrl: publicUrl?.url ?? null,
    })
  } catch (error) {
    if (String(error).includes('UNIQUE')) throw conflict(`deployment ${input.name} exists already`)
    throw error
  }
  return (await db.select().from(deployments).where(eq(deployments.id, id)).get())!
}
