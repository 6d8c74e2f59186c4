/**
 * The operator's view of orgs: list them, read one with its counts, delete one. Creating an org
 * lives with `POST /be/v1/orgs` in `routes/be/orgs-create.ts`.
 */
import { createRoute, z } from '@hono/zod-openapi'
import { startOrgDeletion } from '../../domain/orgs/delete-org'
import { findOrg, listOrgs, ORG_ORDER, orgCounts } from '../../domain/orgs/org-summary'
import { page, success } from '../../http/envelope'
import { listOptions, listQuery, pickFields } from '../../http/list'
import { adminAuth } from '../../http/middleware/auth'
import { createRouter } from '../../http/router'
import {
  errorResponses,
  jsonResponse,
  nameSchema,
  pageSchema,
  successSchema,
} from '../../http/schemas'
import { orgSchema, orgView } from '../be/org-schemas'

const tags = ['Admin']
const orgParam = z.object({ orgName: nameSchema })
export const pruneQuery = z.object({
  prune: z
    .enum(['true', 'false'])
    .optional()
    .openapi({ description: 'Also remove what was published to the org origins' }),
})

const ORG_FIELDS = ['orgName', 'label', 'publicKey', 'state', 'created', 'updated'] as const

const orgDetailSchema = orgSchema
  .extend({
    nUsers: z.number().int(),
    nApps: z.number().int(),
    storageBytes: z.number().int().openapi({ description: 'Bytes of the builds it keeps' }),
  })
  .openapi('OrgDetail')

const list = createRoute({
  method: 'get',
  path: '/adm/v1/orgs',
  tags,
  summary: 'Every org of the instance',
  middleware: [adminAuth()] as const,
  request: {
    query: listQuery.extend({
      orgName: z.string().max(50).optional().openapi({ description: 'Part of the name' }),
      state: z.enum(['active', 'deleting']).optional(),
    }),
  },
  responses: {
    200: jsonResponse(pageSchema(orgSchema), 'A page of orgs'),
    400: errorResponses[400],
    401: errorResponses[401],
  },
})

const read = createRoute({
  method: 'get',
  path: '/adm/v1/orgs/{orgName}',
  tags,
  summary: 'One org with its numbers of users and apps and its storage',
  middleware: [adminAuth()] as const,
  request: { params: orgParam },
  responses: {
    200: jsonResponse(successSchema({ org: orgDetailSchema }), 'The org'),
    400: errorResponses[400],
    401: errorResponses[401],
    404: errorResponses[404],
  },
})

const remove = createRoute({
  method: 'delete',
  path: '/adm/v1/orgs/{orgName}',
  tags,
  summary: 'Delete an org and everything it holds (runs as a prune task)',
  middleware: [adminAuth()] as const,
  request: { params: orgParam, query: pruneQuery },
  responses: {
    202: jsonResponse(successSchema({ taskName: z.string() }), 'Deletion started'),
    400: errorResponses[400],
    401: errorResponses[401],
    404: errorResponses[404],
    409: errorResponses[409],
  },
})

export const adminOrgRoutes = createRouter()
  .openapi(list, async (c) => {
    const query = c.req.valid('query')
    const options = listOptions(query, { fields: ORG_FIELDS, order: Object.keys(ORG_ORDER) })
    const { total, rows } = await listOrgs(c.env, options, {
      orgName: query.orgName,
      state: query.state,
    })
    const items = rows.map((row) => pickFields(orgView(row), options.fields))
    return c.json(page(items, total, options.offset, options.limit), 200)
  })
  .openapi(read, async (c) => {
    const org = await findOrg(c.env, c.req.valid('param').orgName)
    const counts = await orgCounts(c.env, org.id)
    return c.json(success('org', { org: { ...orgView(org), ...counts } }), 200)
  })
  .openapi(remove, async (c) => {
    const org = await findOrg(c.env, c.req.valid('param').orgName)
    const taskName = await startOrgDeletion(c.env, org, c.req.valid('query').prune === 'true')
    c.var.log.info('org deletion started', { org: org.name, taskName })
    return c.json(success('org deletion started', { taskName }), 202)
  })
