/**
 * `POST /adm/v1/orgs` (admin token) and `POST /be/v1/orgs` (admin token or a member of
 * `Administrators`): create an org with its Administrators role and primary admin.
 */
import { createRoute, z } from '@hono/zod-openapi'
import { createOrg } from '../../domain/orgs/create-org'
import type { AppContext } from '../../http/context'
import { success } from '../../http/envelope'
import { forbidden } from '../../http/errors'
import { adminAuth, userOrAdminAuth } from '../../http/middleware/auth'
import { createRouter } from '../../http/router'
import { errorResponses, jsonBody, jsonResponse, successSchema } from '../../http/schemas'
import { createOrgBody, orgSchema, orgView } from './org-schemas'

const created = jsonResponse(
  successSchema({
    org: orgSchema,
    user: z.object({
      username: z.string(),
      email: z.string(),
      machine: z.boolean(),
      roles: z.array(z.string()),
    }),
    password: z.string().openapi({ description: "The admin's initial password, shown once" }),
  }),
  'Org created',
)

const responses = {
  201: created,
  400: errorResponses[400],
  401: errorResponses[401],
  403: errorResponses[403],
  409: errorResponses[409],
} as const

const admCreate = createRoute({
  method: 'post',
  path: '/adm/v1/orgs',
  tags: ['Admin'],
  summary: 'Create an org (operator)',
  middleware: [adminAuth()] as const,
  request: { body: jsonBody(createOrgBody) },
  responses,
})

const beCreate = createRoute({
  method: 'post',
  path: '/be/v1/orgs',
  tags: ['Organizations'],
  summary: 'Create an org (operator or a member of Administrators)',
  middleware: [userOrAdminAuth()] as const,
  request: { body: jsonBody(createOrgBody) },
  responses,
})

async function handle(c: AppContext, body: z.infer<typeof createOrgBody>) {
  if (!c.var.admin && !c.var.principal?.administrator) throw forbidden('orgs.create')
  const { org, password } = await createOrg(c.env, body)
  c.var.log.info('org created', { org: org.name })
  return c.json(
    success('org created', {
      org: orgView(org),
      user: {
        username: body.admin.username,
        email: body.admin.email,
        machine: false,
        roles: ['Administrators'],
      },
      password,
    }),
    201,
  )
}

export const orgCreateRoutes = createRouter()
  .openapi(admCreate, (c) => handle(c, c.req.valid('json')))
  .openapi(beCreate, (c) => handle(c, c.req.valid('json')))
