/** Request and response schemas of deployments (CDN origins). */
import { z } from '@hono/zod-openapi'
import { DEPLOYMENT_FIELDS } from '../../domain/deployments/deployment-store'
import {
  downloadAuthPatchSchema,
  downloadAuthSchema,
  originPatchSchema,
  originSchema,
} from '../../domain/deployments/origin-settings'
import { deploymentNameSchema, labelSchema } from '../../http/schemas'

/** `games/eu`: path segments of letters, digits and `._~-`, no `.` or `..` segment. */
const originPrefixSchema = z
  .string()
  .max(200)
  .regex(
    /^\/*(?:(?!\.\.?(?:\/|$))[A-Za-z0-9._~-]+(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9._~-]+)*)?\/*$/,
    'must be path segments of A-Z a-z 0-9 . _ ~ - separated by /',
  )
  .openapi({ example: 'rockit', description: 'Path on the origin before dxf/ and pat/' })

/** The CDN base URL in front of the origin; launchers get `<publicUrl>/<originPrefix>/dxf/...`. */
const publicUrlSchema = z
  .string()
  .min(1)
  .max(500)
  .openapi({
    example: 'https://cdn.example.com',
    description:
      'Absolute http(s) URL of the CDN in front of the origin (no query); launchers download ' +
      '<publicUrl>/<originPrefix>/dxf/... from it',
  })

export const createDeploymentBody = z
  .strictObject({
    name: deploymentNameSchema,
    label: labelSchema.optional(),
    originPrefix: originPrefixSchema,
    origin: originSchema,
    downloadAuth: downloadAuthSchema.optional(),
    publicUrl: publicUrlSchema.optional(),
  })
  .openapi('CreateDeployment')

export const updateDeploymentBody = z
  .strictObject({
    name: deploymentNameSchema,
    label: labelSchema.nullable().optional(),
    originPrefix: originPrefixSchema.optional(),
    origin: originPatchSchema.optional().openapi({
      description: 'Fields merge into the stored origin of the same type; a new type replaces it',
    }),
    downloadAuth: downloadAuthPatchSchema.nullable().optional(),
    publicUrl: publicUrlSchema.nullable().optional(),
  })
  .openapi('UpdateDeployment')

const maskedOrigin = z
  .object({
    type: z.enum(['s3', 'netstorage', 'r2']),
    endpoint: z.string().optional(),
    region: z.string().optional(),
    bucket: z.string().optional(),
    accessKeyId: z.string().optional(),
    secretAccessKey: z.string().optional().openapi({ description: 'Always ***' }),
    host: z.string().optional(),
    keyName: z.string().optional(),
    key: z.string().optional().openapi({ description: 'Always ***' }),
    cpCode: z.string().optional(),
  })
  .openapi('OriginView')

export const deploymentSchema = z
  .object({
    name: z.string(),
    label: z.string().nullable(),
    originPrefix: z.string(),
    origin: maskedOrigin,
    downloadAuth: z
      .object({
        type: z.enum(['akamai', 'gcore']),
        key: z.string().openapi({ description: 'Always ***' }),
        ttlSec: z.number(),
      })
      .nullable(),
    publicUrl: z.string().nullable().openapi({
      description: 'Base URL launchers download from (the CDN in front of the origin); null: none',
    }),
    status: z.enum(['unknown', 'ok', 'error']),
    message: z.string().nullable().openapi({ description: 'Outcome of the last publish' }),
    rangeVerified: z.boolean().openapi({ description: 'The origin answered a ranged GET' }),
    created: z.string(),
    updated: z.string(),
  })
  .openapi('Deployment')

export { DEPLOYMENT_FIELDS }
export const DEPLOYMENT_ORDER = ['name', 'status', 'created', 'updated'] as const
