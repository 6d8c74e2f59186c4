/**
 * `DELETE /be/v1/orgs/{orgName}`: a member of the org's own `Administrators` deletes it. Another
 * org's name is a 404, as if it did not exist. Runs as a prune task.
 */
import { createRoute, z } from '@hono/zod-openapi'
import { startOrgDeletion } from '../../domain/orgs/delete-org'
import { findOrg } from '../../domain/orgs/org-summary'
import { success } from '../../http/envelope'
import { forbidden, notFound } from '../../http/errors'
import { userAuth } from '../../http/middleware/auth'
import { createRouter } from '../../http/router'
import { errorResponses, jsonResponse, nameSchema, successSchema } from '../../http/schemas'
import { pruneQuery } from '../adm/orgs'

const remove = createRoute({
  method: 'delete',
  path: '/be/v1/orgs/{orgName}',
  tags: ['Organizations'],
  summary: 'Delete your org and everything it holds (Administrators only; irreversible)',
  middleware: [userAuth()] as const,
  request: { params: z.object({ orgName: nameSchema }), query: pruneQuery },
  responses: {
    202: jsonResponse(successSchema({ taskName: z.string() }), 'Deletion started'),
    400: errorResponses[400],
    401: errorResponses[401],
    403: errorResponses[403],
    404: errorResponses[404],
    409: errorResponses[409],
  },
})

export const orgDeleteRoutes = createRouter().openapi(remove, async (c) => {
  const principal = c.var.principal
  const { orgName } = c.req.valid('param')
  if (orgName !== principal.orgName) throw notFound(`org ${orgName}`)
  if (!principal.administrator) throw forbidden('orgs.delete')

  const org = await findOrg(c.env, orgName)
  const taskName = await startOrgDeletion(c.env, org, c.req.valid('query').prune === 'true')
  c.var.log.info('org deletion started', { taskName })
  return c.json(success('org deletion started', { taskName }), 202)
})
