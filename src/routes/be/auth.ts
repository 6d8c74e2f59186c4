/**
 * Human sign-in: `login` (password -> session token), `auth` (session token -> auth token) and
 * `logout`. None of them takes an API key: the three API-key headers are ignored here.
 */
import { createRoute, z } from '@hono/zod-openapi'
import { credentialHeaders } from '../../domain/auth/principal'
import { login, logout, openAuthToken } from '../../domain/auth/sessions'
import { success } from '../../http/envelope'
import { unauthenticated } from '../../http/errors'
import { createRouter } from '../../http/router'
import {
  errorBody,
  errorResponses,
  jsonBody,
  jsonResponse,
  nameSchema,
  successSchema,
} from '../../http/schemas'
import { permissionsSchema } from './role-schemas'

const tags = ['Authentication']
const SESSION_HEADER = 'x-rockit-besession-token'

const sessionHeader = z.object({
  [SESSION_HEADER]: z.string().max(200).optional().openapi({ description: 'From /be/v1/login' }),
})

const tooMany = {
  description: 'Too many failed logins; see Retry-After',
  headers: { 'Retry-After': { description: 'Seconds to wait', schema: { type: 'integer' } } },
  content: { 'application/json': { schema: errorBody } },
} as const

const loginRoute = createRoute({
  method: 'post',
  path: '/be/v1/login',
  tags,
  summary: 'Open a session with a password',
  request: {
    body: jsonBody(
      z
        .strictObject({
          orgName: nameSchema,
          username: nameSchema,
          password: z.string().min(1).max(200),
        })
        .openapi('Login'),
    ),
  },
  responses: {
    200: jsonResponse(
      successSchema({
        besessionToken: z.string(),
        expires: z.string(),
        permissions: permissionsSchema,
      }),
      'Session opened',
    ),
    400: errorResponses[400],
    401: errorResponses[401],
    429: tooMany,
  },
})

const authRoute = createRoute({
  method: 'post',
  path: '/be/v1/auth',
  tags,
  summary: 'Get a short-lived auth token for a session',
  request: { headers: sessionHeader },
  responses: {
    200: jsonResponse(
      successSchema({ beauthToken: z.string(), expires: z.string() }),
      'Auth token issued',
    ),
    401: errorResponses[401],
  },
})

const logoutRoute = createRoute({
  method: 'post',
  path: '/be/v1/logout',
  tags,
  summary: 'Revoke the session (named by its token or one of its auth tokens)',
  request: { headers: sessionHeader },
  responses: {
    200: jsonResponse(successSchema({}), 'Session revoked'),
    401: errorResponses[401],
  },
})

export const authRoutes = createRouter()
  .openapi(loginRoute, async (c) => {
    const body = c.req.valid('json')
    const address = c.req.header('cf-connecting-ip') ?? 'local'
    try {
      const session = await login(c.env, body, address)
      c.var.log.info('login', { org: body.orgName, user: body.username })
      return c.json(success('logged in', session), 200)
    } catch (error) {
      c.var.log.info('login refused', { org: body.orgName, user: body.username, address })
      throw error
    }
  })
  .openapi(authRoute, async (c) => {
    const sessionToken = c.req.header(SESSION_HEADER)
    if (!sessionToken) throw unauthenticated(`${SESSION_HEADER} required`)
    const { beauthToken, expires, orgName, username } = await openAuthToken(c.env, sessionToken)
    c.var.log.info('auth token issued', { org: orgName, user: username })
    return c.json(success('authenticated', { beauthToken, expires }), 200)
  })
  .openapi(logoutRoute, async (c) => {
    await logout(c.env, {
      sessionToken: c.req.header(SESSION_HEADER),
      authToken: credentialHeaders(c.req.raw.headers).authToken,
    })
    return c.json(success('logged out'), 200)
  })
