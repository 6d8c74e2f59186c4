/** API keys of the caller itself: make one, list them (never the secret), revoke one. */
import { createRoute, z } from '@hono/zod-openapi'
import { createApiKey, deleteApiKey, listApiKeys } from '../../domain/auth/api-keys'
import { page, success } from '../../http/envelope'
import { listOptions, listQuery, pageInMemory } from '../../http/list'
import { userAuth } from '../../http/middleware/auth'
import { createRouter } from '../../http/router'
import {
  errorResponses,
  jsonBody,
  jsonResponse,
  labelSchema,
  pageSchema,
  successSchema,
} from '../../http/schemas'

const tags = ['Authentication']

const keySchema = z
  .object({
    keyId: z.string(),
    label: z.string().nullable(),
    created: z.string(),
    expires: z.string().nullable(),
    lastUsed: z.string().nullable(),
  })
  .openapi('ApiKey')

const KEY_FIELDS = ['keyId', 'label', 'created', 'expires', 'lastUsed'] as const

const create = createRoute({
  method: 'post',
  path: '/be/v1/apikeys',
  tags,
  summary: 'Make an API key for yourself',
  middleware: [userAuth()] as const,
  request: {
    body: jsonBody(
      z
        .strictObject({
          label: labelSchema.optional(),
          expires: z.iso
            .datetime({ offset: true })
            .optional()
            .openapi({ description: 'ISO 8601 time in the future; absent: never expires' }),
        })
        .openapi('CreateApiKey'),
    ),
  },
  responses: {
    201: jsonResponse(
      successSchema({
        apiKey: z.string().openapi({ description: 'The key, shown once' }),
        key: keySchema,
      }),
      'Key made',
    ),
    ...errorResponses,
  },
})

const list = createRoute({
  method: 'get',
  path: '/be/v1/apikeys',
  tags,
  summary: 'Your API keys (without their secrets)',
  middleware: [userAuth()] as const,
  request: { query: listQuery },
  responses: {
    200: jsonResponse(pageSchema(keySchema), 'A page of keys'),
    ...errorResponses,
  },
})

const remove = createRoute({
  method: 'delete',
  path: '/be/v1/apikeys/{keyId}',
  tags,
  summary: 'Revoke one of your API keys',
  middleware: [userAuth()] as const,
  request: { params: z.object({ keyId: z.string().min(1).max(100) }) },
  responses: { 200: jsonResponse(successSchema({}), 'Key revoked'), ...errorResponses },
})

export const apiKeyRoutes = createRouter()
  .openapi(create, async (c) => {
    const { orgId, userId } = c.var.principal
    const { apiKey, key } = await createApiKey(c.env, { orgId, userId }, c.req.valid('json'))
    c.var.log.info('api key made', { keyId: key.keyId })
    return c.json(success('key created', { apiKey, key }), 201)
  })
  .openapi(list, async (c) => {
    const { orgId, userId } = c.var.principal
    const options = listOptions(c.req.valid('query'), { fields: KEY_FIELDS, order: KEY_FIELDS })
    const { total, items } = pageInMemory(await listApiKeys(c.env, { orgId, userId }), options)
    return c.json(page(items, total, options.offset, options.limit), 200)
  })
  .openapi(remove, async (c) => {
    const { orgId, userId } = c.var.principal
    const { keyId } = c.req.valid('param')
    await deleteApiKey(c.env, { orgId, userId }, keyId)
    c.var.log.info('api key revoked', { keyId })
    return c.json(success('key deleted'), 200)
  })
