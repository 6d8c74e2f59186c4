/**
 * Who is calling: resolves the credentials of API.md section 2 to a principal (org, user and the
 * OR of its roles' permissions). Either an auth token (`x-rockit-beauth-token` or
 * `Authorization: Bearer`) or all three API-key headers; a request sending both is accepted
 * only when both verify and name the same org and user.
 */
import { and, eq, gt } from 'drizzle-orm'
import { dbOf, isoNow } from '../../db/client'
import { apiKeys, orgs, roles, sessions, userRoles, users } from '../../db/schema'
import type { Env } from '../../env'
import { unauthenticated } from '../../http/errors'
import { combinePermissions, type Permissions } from './permissions'
import { sha256Hex } from './secrets'

export interface Principal {
  orgId: string
  orgName: string
  userId: string
  username: string
  machine: boolean
  permissions: Permissions
  /** Member of the org's `Administrators` role. */
  administrator: boolean
  /** How the caller proved itself. */
  via: 'authToken' | 'apiKey' | 'both'
  /** The session behind an auth token (for logout). */
  sessionId?: string
}

/** The request headers that carry credentials. */
export interface CredentialHeaders {
  authToken?: string
  orgName?: string
  username?: string
  apiKey?: string
}

/** Reads the credential headers of a request. */
export function credentialHeaders(headers: Headers): CredentialHeaders {
  const bearer = headers.get('authorization')?.match(/^Bearer\s+(\S+)$/i)?.[1]
  return {
    authToken: headers.get('x-rockit-beauth-token') ?? bearer ?? undefined,
    orgName: headers.get('x-rockit-orgname') ?? undefined,
    username: headers.get('x-rockit-username') ?? undefined,
    apiKey: headers.get('x-rockit-api-key') ?? undefined,
  }
}

interface Identity {
  orgId: string
  orgName: string
  userId: string
  username: string
  machine: boolean
  sessionId?: string
}

/** Finds a live token of `kind` (`session` or `auth`) by its hash; null when unknown, expired or revoked. */
export async function findLiveToken(env: Env, token: string, kind: 'session' | 'auth') {
  const db = dbOf(env)
  const hash = await sha256Hex(token)
  const row = await db
    .select({
      id: sessions.id,
      parentId: sessions.parentId,
      orgId: orgs.id,
      orgName: orgs.name,
      orgState: orgs.state,
      userId: users.id,
      username: users.username,
      machine: users.machine,
    })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .innerJoin(orgs, eq(orgs.id, sessions.orgId))
    .where(
      and(
        eq(sessions.hash, hash),
        eq(sessions.kind, kind),
        eq(sessions.revoked, false),
        gt(sessions.expires, isoNow()),
      ),
    )
    .get()
  if (row?.orgState !== 'active') return null
  if (row.parentId) {
    const parent = await db
      .select({ id: sessions.id })
      .from(sessions)
      .where(
        and(
          eq(sessions.id, row.parentId),
          eq(sessions.revoked, false),
          gt(sessions.expires, isoNow()),
        ),
      )
      .get()
    if (!parent) return null
  }
  return row
}

async function identityFromAuthToken(env: Env, token: string): Promise<Identity> {
  const row = await findLiveToken(env, token, 'auth')
  if (!row) throw unauthenticated('auth token is invalid, expired or revoked')
  return { ...row, sessionId: row.parentId ?? undefined }
}

async function identityFromApiKey(
  env: Env,
  orgName: string,
  username: string,
  apiKey: string,
): Promise<Identity> {
  const db = dbOf(env)
  const hash = await sha256Hex(apiKey)
  const row = await db
    .select({
      keyId: apiKeys.id,
      expires: apiKeys.expires,
      orgId: orgs.id,
      orgName: orgs.name,
      orgState: orgs.state,
      userId: users.id,
      username: users.username,
      machine: users.machine,
    })
    .from(apiKeys)
    .innerJoin(users, eq(users.id, apiKeys.userId))
    .innerJoin(orgs, eq(orgs.id, apiKeys.orgId))
    .where(and(eq(apiKeys.hash, hash), eq(orgs.name, orgName), eq(users.username, username)))
    .get()
  if (row?.orgState !== 'active') throw unauthenticated('API key is invalid for this org and user')
  if (row.expires && row.expires <= isoNow()) throw unauthenticated('API key has expired')

  await db.update(apiKeys).set({ lastUsed: isoNow() }).where(eq(apiKeys.id, row.keyId))
  return row
}

/** The OR of the user's roles and whether it holds `Administrators`. */
export async function permissionsOf(env: Env, userId: string) {
  const rows = await dbOf(env)
    .select({ permissions: roles.permissions, builtin: roles.builtin })
    .from(userRoles)
    .innerJoin(roles, eq(roles.id, userRoles.roleId))
    .where(eq(userRoles.userId, userId))
    .all()
  return {
    permissions: combinePermissions(rows.map((r) => JSON.parse(r.permissions))),
    administrator: rows.some((r) => r.builtin),
  }
}

/**
 * Resolves the caller from its credential headers, or throws 401. Returns null when the request
 * carries no user credential at all (the route decides whether that is allowed).
 */
export async function resolvePrincipal(
  env: Env,
  headers: CredentialHeaders,
): Promise<Principal | null> {
  const keyParts = [headers.orgName, headers.username, headers.apiKey].filter(Boolean).length
  if (!headers.authToken && keyParts === 0) return null
  if (keyParts > 0 && keyParts < 3 && (headers.apiKey || !headers.authToken)) {
    throw unauthenticated(
      'an API key needs all three headers: x-rockit-orgname, x-rockit-username, x-rockit-api-key',
    )
  }

  const fromToken = headers.authToken ? await identityFromAuthToken(env, headers.authToken) : null
  const fromKey =
    headers.apiKey && headers.orgName && headers.username
      ? await identityFromApiKey(env, headers.orgName, headers.username, headers.apiKey)
      : null
  if (
    fromToken &&
    fromKey &&
    (fromToken.orgId !== fromKey.orgId || fromToken.userId !== fromKey.userId)
  ) {
    throw unauthenticated('the auth token and the API key name different users')
  }
  if (fromToken && !fromKey && keyParts > 0) {
    // Org/user headers alongside an auth token must agree with it.
    if (
      (headers.orgName && headers.orgName !== fromToken.orgName) ||
      (headers.username && headers.username !== fromToken.username)
    ) {
      throw unauthenticated('x-rockit-orgname/x-rockit-username do not match the auth token')
    }
  }

  const identity = (fromToken ?? fromKey) as Identity
  const { permissions, administrator } = await permissionsOf(env, identity.userId)
  return {
    orgId: identity.orgId,
    orgName: identity.orgName,
    userId: identity.userId,
    username: identity.username,
    machine: identity.machine,
    permissions,
    administrator,
    via: fromToken && fromKey ? 'both' : fromToken ? 'authToken' : 'apiKey',
    sessionId: fromToken?.sessionId,
  }
}
