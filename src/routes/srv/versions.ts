/** `GET /srv/v1/versions`: no authentication; what this instance runs. */
import { createRoute, z } from '@hono/zod-openapi'
import { success } from '../../http/envelope'
import { createRouter } from '../../http/router'
import { jsonResponse, successSchema } from '../../http/schemas'
import { versions } from '../../version'

const versionsSchema = z.object({
  service: z.string(),
  schema: z.string(),
  imageFormat: z.string(),
  traceFormat: z.string(),
  api: z.string(),
})

const route = createRoute({
  method: 'get',
  path: '/srv/v1/versions',
  tags: ['Service'],
  summary: 'Versions of the service, its schema and its image format',
  responses: { 200: jsonResponse(successSchema({ versions: versionsSchema }), 'Versions') },
})

export const versionsRoutes = createRouter().openapi(route, (c) =>
  c.json(success('versions', { versions: { ...versions } }), 200),
)
