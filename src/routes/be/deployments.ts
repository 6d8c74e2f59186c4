/**
 * Deployments (CDN origins) of the caller's org (`deployments` C/R/U/D): create, list, read,
 * change and delete. Secrets are accepted, sealed, and never shown again (`"***"`).
 */
import { createRoute, z } from '@hono/zod-openapi'
import { createDeployment } from '../../domain/deployments/create-deployment'
import { deleteDeployment } from '../../domain/deployments/delete-deployment'
import { deploymentView, findDeployment } from '../../domain/deployments/deployment-store'
import { listDeployments } from '../../domain/deployments/list-deployments'
import { modifyDeployment } from '../../domain/deployments/modify-deployment'
import { page, success } from '../../http/envelope'
import { listOptions, listQuery } from '../../http/list'
import { authorize, userAuth } from '../../http/middleware/auth'
import { createRouter } from '../../http/router'
import {
  deploymentNameSchema,
  errorResponses,
  jsonBody,
  jsonResponse,
  pageSchema,
  successSchema,
} from '../../http/schemas'
import {
  createDeploymentBody,
  DEPLOYMENT_FIELDS,
  DEPLOYMENT_ORDER,
  deploymentSchema,
  updateDeploymentBody,
} from './deployment-schemas'

const tags = ['Deployments']
const nameParam = z.object({ name: deploymentNameSchema })

const listFilters = listQuery.extend({
  name: z.string().max(50).optional().openapi({ description: 'Part of the name (any case)' }),
  error: z
    .enum(['true', 'false'])
    .optional()
    .openapi({ description: 'true: only deployments whose last publish failed' }),
})

const list = createRoute({
  method: 'get',
  path: '/be/v1/deployments',
  tags,
  summary: "The org's deployments (deployments R)",
  middleware: [userAuth()] as const,
  request: { query: listFilters },
  responses: {
    200: jsonResponse(pageSchema(deploymentSchema), 'A page of deployments'),
    ...errorResponses,
  },
})

const read = createRoute({
  method: 'get',
  path: '/be/v1/deployments/{name}',
  tags,
  summary: 'One deployment with the status of its last publish (deployments R)',
  middleware: [userAuth()] as const,
  request: { params: nameParam },
  responses: {
    200: jsonResponse(successSchema({ deployment: deploymentSchema }), 'The deployment'),
    ...errorResponses,
  },
})

const create = createRoute({
  method: 'post',
  path: '/be/v1/deployments',
  tags,
  summary: 'Create a deployment: an origin the apps publish to (deployments C)',
  middleware: [userAuth()] as const,
  request: { body: jsonBody(createDeploymentBody) },
  responses: {
    201: jsonResponse(successSchema({ deployment: deploymentSchema }), 'Deployment created'),
    ...errorResponses,
  },
})

const update = createRoute({
  method: 'patch',
  path: '/be/v1/deployments',
  tags,
  summary: 'Change a deployment; send only what changes, null removes an optional field',
  middleware: [userAuth()] as const,
  request: { body: jsonBody(updateDeploymentBody) },
  responses: {
    200: jsonResponse(successSchema({ deployment: deploymentSchema }), 'Deployment modified'),
    ...errorResponses,
  },
})

const remove = createRoute({
  method: 'delete',
  path: '/be/v1/deployments/{name}',
  tags,
  summary: 'Delete a deployment and what it published (a prune task); 409 while an app lists it',
  middleware: [userAuth()] as const,
  request: { params: nameParam },
  responses: {
    202: jsonResponse(successSchema({ taskName: z.string() }), 'Removal submitted'),
    ...errorResponses,
  },
})

export const deploymentRoutes = createRouter()
  .openapi(list, async (c) => {
    const principal = authorize(c, 'deployments', 'read')
    const query = c.req.valid('query')
    const options = listOptions(query, { fields: DEPLOYMENT_FIELDS, order: DEPLOYMENT_ORDER })
    const filters = {
      name: query.name,
      error: query.error === undefined ? undefined : query.error === 'true',
    }
    const { total, items } = await listDeployments(c.env, principal.orgId, filters, options)
    return c.json(page(items, total, options.offset, options.limit), 200)
  })
  .openapi(read, async (c) => {
    const principal = authorize(c, 'deployments', 'read')
    const row = await findDeployment(c.env, principal.orgId, c.req.valid('param').name)
    return c.json(success('deployment', { deployment: deploymentView(row) }), 200)
  })
  .openapi(create, async (c) => {
    const principal = authorize(c, 'deployments', 'create')
    const row = await createDeployment(c.env, principal.orgId, c.req.valid('json'))
    c.var.log.info('deployment created', { deployment: row.name })
    return c.json(success('deployment created', { deployment: deploymentView(row) }), 201)
  })
  .openapi(update, async (c) => {
    const principal = authorize(c, 'deployments', 'update')
    const row = await modifyDeployment(c.env, principal.orgId, c.req.valid('json'))
    c.var.log.info('deployment modified', { deployment: row.name })
    return c.json(success('deployment modified', { deployment: deploymentView(row) }), 200)
  })
  .openapi(remove, async (c) => {
    const principal = authorize(c, 'deployments', 'delete')
    const { name } = c.req.valid('param')
    const taskName = await deleteDeployment(c.env, principal.orgId, name)
    c.var.log.info('deployment removal submitted', { deployment: name, taskName })
    return c.json(success('deployment removal submitted', { taskName }), 202)
  })
