/** Roles of the caller's org: list, read, create, change and delete (`roles` C/R/U/D). */
import { createRoute, z } from '@hono/zod-openapi'
import { createRole } from '../../domain/roles/create-role'
import { deleteRole } from '../../domain/roles/delete-role'
import { findRole, listRoles, roleView } from '../../domain/roles/find-role'
import { updateRole } from '../../domain/roles/update-role'
import { page, success } from '../../http/envelope'
import { listOptions, listQuery, pageInMemory } from '../../http/list'
import { authorize, userAuth } from '../../http/middleware/auth'
import { createRouter } from '../../http/router'
import {
  errorResponses,
  jsonBody,
  jsonResponse,
  nameSchema,
  pageSchema,
  successSchema,
} from '../../http/schemas'
import { createRoleBody, ROLE_FIELDS, ROLE_ORDER, roleSchema, updateRoleBody } from './role-schemas'

const tags = ['Roles']
const nameParam = z.object({ name: nameSchema })

const list = createRoute({
  method: 'get',
  path: '/be/v1/roles',
  tags,
  summary: "The org's roles (roles R)",
  middleware: [userAuth()] as const,
  request: { query: listQuery },
  responses: {
    200: jsonResponse(pageSchema(roleSchema), 'A page of roles'),
    ...errorResponses,
  },
})

const read = createRoute({
  method: 'get',
  path: '/be/v1/roles/{name}',
  tags,
  summary: 'One role (roles R)',
  middleware: [userAuth()] as const,
  request: { params: nameParam },
  responses: {
    200: jsonResponse(successSchema({ role: roleSchema }), 'The role'),
    ...errorResponses,
  },
})

const create = createRoute({
  method: 'post',
  path: '/be/v1/roles',
  tags,
  summary: 'Create a role (roles C); it cannot grant more than the caller holds',
  middleware: [userAuth()] as const,
  request: { body: jsonBody(createRoleBody) },
  responses: {
    201: jsonResponse(successSchema({ role: roleSchema }), 'Role created'),
    ...errorResponses,
  },
})

const update = createRoute({
  method: 'patch',
  path: '/be/v1/roles',
  tags,
  summary: 'Change a role (roles U); resources not sent keep their value',
  middleware: [userAuth()] as const,
  request: { body: jsonBody(updateRoleBody) },
  responses: {
    200: jsonResponse(successSchema({ role: roleSchema }), 'Role modified'),
    ...errorResponses,
  },
})

const remove = createRoute({
  method: 'delete',
  path: '/be/v1/roles/{name}',
  tags,
  summary: 'Delete a role nobody holds (roles D)',
  middleware: [userAuth()] as const,
  request: { params: nameParam },
  responses: { 200: jsonResponse(successSchema({}), 'Role deleted'), ...errorResponses },
})

export const roleRoutes = createRouter()
  .openapi(list, async (c) => {
    const principal = authorize(c, 'roles', 'read')
    const options = listOptions(c.req.valid('query'), { fields: ROLE_FIELDS, order: ROLE_ORDER })
    const roles = (await listRoles(c.env, principal.orgId)).map(roleView)
    const { total, items } = pageInMemory(roles, options)
    return c.json(page(items, total, options.offset, options.limit), 200)
  })
  .openapi(read, async (c) => {
    const principal = authorize(c, 'roles', 'read')
    const role = await findRole(c.env, principal.orgId, c.req.valid('param').name)
    return c.json(success('role', { role: roleView(role) }), 200)
  })
  .openapi(create, async (c) => {
    const principal = authorize(c, 'roles', 'create')
    const role = await createRole(c.env, principal, c.req.valid('json'))
    c.var.log.info('role created', { role: role.name })
    return c.json(success('role created', { role: roleView(role) }), 201)
  })
  .openapi(update, async (c) => {
    const principal = authorize(c, 'roles', 'update')
    const role = await updateRole(c.env, principal, c.req.valid('json'))
    c.var.log.info('role modified', { role: role.name })
    return c.json(success('role modified', { role: roleView(role) }), 200)
  })
  .openapi(remove, async (c) => {
    const principal = authorize(c, 'roles', 'delete')
    const { name } = c.req.valid('param')
    await deleteRole(c.env, principal.orgId, name)
    c.var.log.info('role deleted', { role: name })
    return c.json(success('role deleted'), 200)
  })
