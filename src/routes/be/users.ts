/**
 * Account management (`beUsers`): create, list, read, change and delete the users of the caller's
 * org. Users may always read and change themselves; see `domain/users` for the rules.
 */
import { createRoute, z } from '@hono/zod-openapi'
import { allows } from '../../domain/auth/permissions'
import { createUser } from '../../domain/users/create-user'
import { deleteUser } from '../../domain/users/delete-user'
import { findUser, listUsers, userRecord } from '../../domain/users/find-user'
import { updateUser } from '../../domain/users/update-user'
import { page, success } from '../../http/envelope'
import { forbidden } from '../../http/errors'
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
import {
  createUserBody,
  USER_FIELDS,
  USER_ORDER,
  updateUserBody,
  userQuery,
  userSchema,
} from './user-schemas'

const tags = ['Account management']
const usernameParam = z.object({ username: nameSchema })
const secrets = {
  password: z.string().optional().openapi({ description: 'New password (human), shown once' }),
  apiKey: z.string().optional().openapi({ description: 'New API key (machine), shown once' }),
}

const create = createRoute({
  method: 'post',
  path: '/be/v1/users',
  tags,
  summary: 'Create a human or machine user (beUsers C)',
  middleware: [userAuth()] as const,
  request: { body: jsonBody(createUserBody) },
  responses: {
    201: jsonResponse(successSchema({ user: userSchema, ...secrets }), 'User created'),
    ...errorResponses,
  },
})

const list = createRoute({
  method: 'get',
  path: '/be/v1/users',
  tags,
  summary: "The org's users (beUsers R)",
  middleware: [userAuth()] as const,
  request: { query: listQuery.extend(userQuery.shape) },
  responses: {
    200: jsonResponse(pageSchema(userSchema), 'A page of users'),
    ...errorResponses,
  },
})

const read = createRoute({
  method: 'get',
  path: '/be/v1/users/{username}',
  tags,
  summary: 'One user (beUsers R, or the user itself)',
  middleware: [userAuth()] as const,
  request: { params: usernameParam },
  responses: {
    200: jsonResponse(successSchema({ user: userSchema }), 'The user'),
    ...errorResponses,
  },
})

const update = createRoute({
  method: 'patch',
  path: '/be/v1/users',
  tags,
  summary: 'Change a user (beUsers U, or the user itself for its profile and password)',
  middleware: [userAuth()] as const,
  request: { body: jsonBody(updateUserBody) },
  responses: {
    200: jsonResponse(successSchema({ user: userSchema, ...secrets }), 'User modified'),
    ...errorResponses,
  },
})

const remove = createRoute({
  method: 'delete',
  path: '/be/v1/users/{username}',
  tags,
  summary: 'Delete a user (beUsers D)',
  middleware: [userAuth()] as const,
  request: { params: usernameParam },
  responses: { 200: jsonResponse(successSchema({}), 'User deleted'), ...errorResponses },
})

export const userRoutes = createRouter()
  .openapi(create, async (c) => {
    const principal = authorize(c, 'beUsers', 'create')
    const body = c.req.valid('json')
    const { user, password, apiKey } = await createUser(c.env, principal, body)
    c.var.log.info('user created', { target: user.username, machine: user.machine })
    return c.json(success('user created', { user, password, apiKey }), 201)
  })
  .openapi(list, async (c) => {
    const principal = authorize(c, 'beUsers', 'read')
    const query = c.req.valid('query')
    const options = listOptions(query, { fields: USER_FIELDS, order: USER_ORDER })
    const users = await listUsers(c.env, principal.orgId, {
      username: query.username,
      machine: query.machine,
    })
    const { total, items } = pageInMemory(users, options)
    return c.json(page(items, total, options.offset, options.limit), 200)
  })
  .openapi(read, async (c) => {
    const principal = c.var.principal
    const { username } = c.req.valid('param')
    if (username !== principal.username && !allows(principal.permissions, 'beUsers', 'read')) {
      throw forbidden('beUsers.read')
    }
    const user = await userRecord(c.env, await findUser(c.env, principal.orgId, username))
    return c.json(success('user', { user }), 200)
  })
  .openapi(update, async (c) => {
    const body = c.req.valid('json')
    const { user, password, apiKey } = await updateUser(c.env, c.var.principal, body)
    c.var.log.info('user modified', {
      target: user.username,
      credentialsReset: !!(password || apiKey),
    })
    return c.json(success('user modified', { user, password, apiKey }), 200)
  })
  .openapi(remove, async (c) => {
    const principal = authorize(c, 'beUsers', 'delete')
    const { username } = c.req.valid('param')
    await deleteUser(c.env, principal, username)
    c.var.log.info('user deleted', { target: username })
    return c.json(success('user deleted'), 200)
  })
