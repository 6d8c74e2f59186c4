/** Request and response schemas of apps (API.md section 5, Apps). */
import { z } from '@hono/zod-openapi'
import { APP_FIELDS } from '../../domain/apps/app-view'
import { APP_STATES } from '../../domain/apps/state'
import { listQuery } from '../../http/list'
import { deploymentNameSchema, labelSchema, nameSchema } from '../../http/schemas'

/**
 * The six training settings, each optional; PATCH /be/v1/trainings takes the same fields. The
 * range comes before `int()`, so a huge count is refused with the range (a 400 names a field
 * once, with its first reason).
 */
export const trainingSettingsFields = {
  nTracesReliable: z.number().min(1).max(1_000_000).int().optional(),
  minCoverage: z.number().min(0).max(1).optional(),
  maxCoverage: z.number().min(0).max(1).optional(),
  minTraceTimeSec: z.number().min(0).max(1e9).optional(),
  nProcessTracesMin: z.number().min(1).max(1_000_000).int().optional(),
  uploadTrace: z.boolean().optional(),
}

const isPowerOfTwo = (value: number) => value > 0 && (value & (value - 1)) === 0

const maxBuildsSchema = z
  .number()
  .int()
  .min(1)
  .max(50)
  .openapi({
    description:
      'Builds kept, 1..50 (default 5). Beyond it the oldest ready builds go (never the ' +
      'current one, nor the one training is still on), with their images, patches, traces ' +
      'and training statistics',
  })

const deploymentListSchema = z
  .array(deploymentNameSchema)
  .max(100)
  .openapi({ description: 'Deployment names to publish to; [] means all of the org' })

export const createAppBody = z
  .strictObject({
    name: nameSchema,
    label: labelSchema.min(1),
    maxBuilds: maxBuildsSchema.optional(),
    deployments: deploymentListSchema.optional(),
    blockSize: z
      .number()
      .int()
      .min(4096)
      .max(4 * 1024 * 1024)
      .refine(isPowerOfTwo, 'must be a power of two')
      .optional()
      .openapi({
        description: 'Block size in bytes: a power of two, 4 KiB..4 MiB (default 64 KiB)',
      }),
    training: z.strictObject(trainingSettingsFields).optional(),
  })
  .openapi('CreateApp')

export const modifyAppBody = z
  .strictObject({
    name: nameSchema,
    label: labelSchema.min(1).optional(),
    maxBuilds: maxBuildsSchema.optional(),
    deployments: deploymentListSchema.nullable().optional(),
    rotateTraceKey: z
      .boolean()
      .optional()
      .openapi({ description: 'True: issue a new trace key; the old one stops working' }),
  })
  .openapi('ModifyApp')

export const trainingSettingsSchema = z
  .object({
    nTracesReliable: z.number(),
    minCoverage: z.number(),
    maxCoverage: z.number(),
    minTraceTimeSec: z.number(),
    nProcessTracesMin: z.number(),
    uploadTrace: z.boolean(),
  })
  .openapi('TrainingSettings')

export const appSchema = z
  .object({
    name: z.string(),
    label: z.string(),
    state: z.enum(APP_STATES),
    processing: z.boolean(),
    exporting: z.boolean(),
    locked: z.boolean(),
    error: z.string().optional().openapi({ description: 'Why the app is locked or in error' }),
    iCurBuild: z.number().int().nullable(),
    maxBuilds: z.number().int(),
    builds: z.array(
      z.object({
        buildId: z.number().int(),
        buildName: z.string(),
        sizeBytes: z.number(),
        files: z.number().int(),
        created: z.string(),
      }),
    ),
    dxfName: z.string().nullable(),
    patches: z.array(
      z.object({ fromBuildId: z.number(), toBuildId: z.number(), sizeBytes: z.number() }),
    ),
    deployments: z.array(z.string()),
    sizeBytes: z.number(),
    blockSize: z.number().int(),
    training: trainingSettingsSchema,
    created: z.string(),
    updated: z.string(),
  })
  .openapi('App')

export const appNameParam = z.object({ appName: nameSchema })

export const appListQuery = listQuery.extend({
  name: z.string().max(50).optional().openapi({ description: 'Part of the app name' }),
  state: z.enum(APP_STATES).optional(),
})

export const appFieldsQuery = listQuery.pick({ 'fields[]': true, fields: true })

/** `fields[]` and `order[]` an app list accepts. */
export const APP_LIST = { fields: APP_FIELDS, order: ['name', 'created', 'updated'] } as const
