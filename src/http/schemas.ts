/** zod schemas shared by many routes; they validate requests and feed the OpenAPI document. */
import { z } from '@hono/zod-openapi'

/** Names of orgs, apps, users, roles, subscriptions: `^[A-Za-z0-9_]{2,50}$`. */
export const nameSchema = z
  .string()
  .regex(/^[A-Za-z0-9_]{2,50}$/, 'must match ^[A-Za-z0-9_]{2,50}$')
  .openapi({ example: 'myGame' })

/** Deployment names also allow `[` and `]`. */
export const deploymentNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9_[\]]{2,50}$/, 'must match ^[A-Za-z0-9_\\[\\]]{2,50}$')
  .openapi({ example: 'cdn_eu' })

export const labelSchema = z.string().max(200)

/** The error envelope, for the OpenAPI document. */
export const errorBody = z
  .object({
    status: z.literal('error'),
    code: z.string(),
    message: z.string(),
    details: z.array(z.record(z.string(), z.unknown())),
  })
  .openapi('Error')

const errorContent = { 'application/json': { schema: errorBody } }

/** Standard error responses for route definitions. */
export const errorResponses = {
  400: { description: 'Invalid parameter', content: errorContent },
  401: { description: 'Missing or invalid credentials', content: errorContent },
  403: { description: 'Permission missing', content: errorContent },
  404: { description: 'Not found', content: errorContent },
  409: { description: 'Conflict', content: errorContent },
  413: { description: 'Too large', content: errorContent },
  415: { description: 'Wrong content type', content: errorContent },
} as const

/** A JSON request body for a route definition (strict: unknown fields are a 400). */
export function jsonBody<T extends z.ZodType>(schema: T, description?: string) {
  return {
    required: true,
    description,
    content: { 'application/json': { schema } },
  }
}

/** A JSON success response for a route definition. */
export function jsonResponse<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { 'application/json': { schema } } }
}

/** A page of a list (API.md section 1) whose items are `item` with any subset of its fields. */
export function pageSchema<T extends z.ZodObject>(item: T) {
  return z.object({
    status: z.literal('success'),
    total: z.number().int(),
    offset: z.number().int(),
    limit: z.number().int(),
    items: z.array(item.partial()),
  })
}

/** The success envelope around extra fields. */
export function successSchema<T extends z.ZodRawShape>(shape: T) {
  return z.object({ status: z.literal('success'), message: z.string(), ...shape })
}
