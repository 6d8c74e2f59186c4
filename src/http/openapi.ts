/**
 * The served OpenAPI 3.1 document: generated from the routes' zod schemas, then given what the
 * schemas cannot say: how each family authenticates (API.md section 2) and the 413/415 answers
 * every JSON body can get.
 */
import type { OpenAPIHono } from '@hono/zod-openapi'
import type { AppEnv } from './context'

const header = (name: string, description: string) => ({
  type: 'apiKey' as const,
  in: 'header' as const,
  name,
  description,
})

const securitySchemes = {
  adminToken: header(
    'x-rockit-admin-token',
    'Operator token: HS256 JWT {"username"} signed with the instance admin secret',
  ),
  sessionToken: header('x-rockit-besession-token', 'Session token from POST /be/v1/login (24 h)'),
  authToken: header('x-rockit-beauth-token', 'Auth token from POST /be/v1/auth (5 min)'),
  bearer: {
    type: 'http' as const,
    scheme: 'bearer',
    description: 'The auth token as a Bearer token',
  },
  orgName: header('x-rockit-orgname', 'The org of the API key or trace key'),
  username: header('x-rockit-username', 'The user of the API key'),
  apiKey: header('x-rockit-api-key', 'API key (sent with x-rockit-orgname and x-rockit-username)'),
  appName: header('x-rockit-appname', 'The app of the trace key'),
  traceKey: header(
    'x-rockit-trace-key',
    'Trace key of the app (sent with x-rockit-orgname and x-rockit-appname)',
  ),
}

type Requirement = Record<string, string[]>
const need = (...schemes: (keyof typeof securitySchemes)[]): Requirement =>
  Object.fromEntries(schemes.map((s) => [s, []]))

const user = [need('authToken'), need('bearer'), need('orgName', 'username', 'apiKey')]

/** Who may call `method path`; an empty list means no credential. */
export function securityOf(method: string, path: string): Requirement[] {
  if (path.startsWith('/adm/')) return [need('adminToken')]
  if (path === '/be/v1/orgs' && method === 'post') return [need('adminToken'), ...user]
  if (path === '/be/v1/login') return []
  if (path === '/be/v1/auth') return [need('sessionToken')]
  if (path === '/be/v1/logout') return [need('sessionToken'), need('authToken'), need('bearer')]
  if (path.startsWith('/be/')) return user
  if (path.startsWith('/client/')) return [need('orgName', 'appName', 'traceKey')]
  return []
}

const errorRef = { $ref: '#/components/schemas/Error' }
const errorAnswer = (description: string) => ({
  description,
  content: { 'application/json': { schema: errorRef } },
})

/** The OpenAPI 3.1 document of `app`, served at `/openapi.json`. */
export function openApiDocument(app: OpenAPIHono<AppEnv>, serverUrl: string, version: string) {
  const doc = app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: {
      title: 'rockit-edge API',
      version,
      description: 'Progressive-download backend following the public ROCKIT Edge API.',
    },
    servers: [{ url: serverUrl }],
  })
  doc.components = { ...doc.components, securitySchemes }

  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const [method, operation] of Object.entries(
      item as Record<string, Record<string, unknown>>,
    )) {
      if (typeof operation !== 'object' || !operation || !('responses' in operation)) continue
      operation.security = securityOf(method, path)
      const responses = operation.responses as Record<string, unknown>
      if (securityOf(method, path).length)
        responses['401'] ??= errorAnswer('Missing or invalid credentials')
      const body = operation.requestBody as { content?: Record<string, unknown> } | undefined
      if (body?.content?.['application/json']) {
        responses['413'] ??= errorAnswer('Body over the size limit')
        responses['415'] ??= errorAnswer('Content-Type is not application/json')
      }
    }
  }
  return doc
}
