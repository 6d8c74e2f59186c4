/**
 * Authentication middleware for the API families and the one authorisation check every route
 * calls. 401 for a missing or bad credential, 403 for a good one without the permission.
 */
import type { MiddlewareHandler } from 'hono'
import { verifyAdminToken } from '../../domain/auth/admin-token'
import { allows, type Operation, type Resource } from '../../domain/auth/permissions'
import { credentialHeaders, type Principal, resolvePrincipal } from '../../domain/auth/principal'
import { settingsOf } from '../../env'
import type { AppContext, AppEnv } from '../context'
import { forbidden, unauthenticated } from '../errors'

async function operatorOf(c: AppContext): Promise<string | null> {
  const token = c.req.header('x-rockit-admin-token')
  if (!token) return null
  const name = await verifyAdminToken(settingsOf(c.env).adminSecret, token)
  if (!name) throw unauthenticated('admin token is invalid')
  return name
}

/** Requires a valid `x-rockit-admin-token`; the operator's name goes to `c.var.admin` and the log. */
export function adminAuth(): MiddlewareHandler<AppEnv> {
  return async function adminAuthMiddleware(c, next) {
    const name = await operatorOf(c)
    if (!name) throw unauthenticated('x-rockit-admin-token required')
    c.set('admin', name)
    c.set('log', c.var.log.with({ admin: name }))
    await next()
  }
}

/** Requires a user credential (auth token and/or API key); the principal goes to `c.var.principal`. */
export function userAuth(): MiddlewareHandler<AppEnv> {
  return async function userAuthMiddleware(c, next) {
    const principal = await resolvePrincipal(c.env, credentialHeaders(c.req.raw.headers))
    if (!principal) throw unauthenticated('credentials required: an auth token or an API key')
    setPrincipal(c, principal)
    await next()
  }
}

/** Accepts an operator's admin token or a user credential (e.g. `POST /be/v1/orgs`). */
export function userOrAdminAuth(): MiddlewareHandler<AppEnv> {
  return async function userOrAdminAuthMiddleware(c, next) {
    const name = await operatorOf(c)
    if (name) {
      c.set('admin', name)
      c.set('log', c.var.log.with({ admin: name }))
      return next()
    }
    const principal = await resolvePrincipal(c.env, credentialHeaders(c.req.raw.headers))
    if (!principal)
      throw unauthenticated('credentials required: an admin token, an auth token or an API key')
    setPrincipal(c, principal)
    await next()
  }
}

function setPrincipal(c: AppContext, principal: Principal) {
  c.set('principal', principal)
  c.set('log', c.var.log.with({ org: principal.orgName, user: principal.username }))
}

/** Throws 403 naming `<resource>.<op>` unless the caller's roles allow it. Returns the principal. */
export function authorize(c: AppContext, resource: Resource, op: Operation): Principal {
  const principal = c.var.principal
  if (!principal) throw unauthenticated()
  if (!allows(principal.permissions, resource, op)) throw forbidden(`${resource}.${op}`)
  return principal
}
