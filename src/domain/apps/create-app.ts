/**
 * Creating an app: its settings, its registered deployments and a new trace key, shown once. The
 * unique index on (org, name) decides between two creates racing for one name.
 */
import { eq } from 'drizzle-orm'
import { dbOf } from '../../db/client'
import { isUniqueViolation } from '../../db/errors'
import { apps } from '../../db/schema'
import type { Env } from '../../env'
import { conflict } from '../../http/errors'
import { newId } from '../auth/secrets'
import { checkDeploymentNames } from './deployment-names'
import { type AppRow, findApp } from './find-app'
import { newTraceKey } from './trace-key'
import { DEFAULT_TRAINING, mergeTraining, type TrainingSettings } from './training-settings'

/** Builds kept per app unless set. */
export const DEFAULT_MAX_BUILDS = 5
/** Block size unless set: 64 KiB. */
export const DEFAULT_BLOCK_SIZE = 65_536

export interface CreateAppInput {
  name: string
  label: string
  maxBuilds?: number
  deployments?: string[]
  blockSize?: number
  training?: Partial<TrainingSettings>
}

/**
 * Creates the app in org `orgId`; 409 when the name is taken or a deployment is being deleted,
 * 400 for an unknown deployment.
 */
export async function createApp(
  env: Env,
  orgId: string,
  input: CreateAppInput,
): Promise<{ app: AppRow; traceKey: string }> {
  if (await findApp(env, orgId, input.name)) throw conflict(`app ${input.name} exists already`)
  const deploymentNames = await checkDeploymentNames(env, orgId, input.deployments ?? [])
  const training = mergeTraining(DEFAULT_TRAINING, input.training ?? {}, 'training.')
  const { traceKey, hash } = await newTraceKey()

  const id = newId()
  try {
    await dbOf(env)
      .insert(apps)
      .values({
        id,
        orgId,
        name: input.name,
        label: input.label,
        maxBuilds: input.maxBuilds ?? DEFAULT_MAX_BUILDS,
        blockSize: input.blockSize ?? DEFAULT_BLOCK_SIZE,
        deployments: JSON.stringify(deploymentNames),
        traceKeyHash: hash,
        training: JSON.stringify(training),
      })
  } catch (error) {
    if (isUniqueViolation(error)) throw conflict(`app ${input.name} exists already`)
    throw error
  }

  const app = await dbOf(env).select().from(apps).where(eq(apps.id, id)).get()
  return { app: app!, traceKey }
}
