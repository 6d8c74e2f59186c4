/**
 * Human sign-in: a login opens a session (24 h by default), a session hands out short auth tokens
 * (5 min), and logout revokes the session with every auth token made from it. Tokens are shown
 * once and stored only as SHA-256 hashes in `sessions`. API keys play no part here.
 */
import { and, eq, isNull, ne, or } from 'drizzle-orm'
import { dbOf, isoNow } from '../../db/client'
import { orgs, sessions, users } from '../../db/schema'
import { type Env, settingsOf } from '../../env'
import { unauthenticated } from '../../http/errors'
import { verifyPassword } from './password'
import { findLiveToken, permissionsOf } from './principal'
import { type FixedWindow, giveBack, takeAttempt } from './rate-limit'
import { newId, newSecret, sha256Hex } from './secrets'

/** Failed logins allowed per window for one org+username, and for one client address. */
export const LOGIN_LIMITS = { perUser: 5, perAddress: 20, windowSec: 15 * 60 } as const

export interface LoginInput {
  orgName: string
  username: string
  password: string
}

// Checked when the org or user does not exist, so such a login takes as long as a wrong password.
const DECOY_HASH = `pbkdf2-sha256$100000$${btoa('rockit-edge-salt')}$${btoa('x'.repeat(32))}`

const LOGIN_REFUSED = 'invalid org, username or password'

/** The start of the keys of an org's per-user login counters (`rate_limits`). */
export function loginUserKeyPrefix(orgName: string): string {
  return `login:user:${orgName}:`
}

function loginWindows(input: LoginInput, address: string): FixedWindow[] {
  const { perUser, perAddress, windowSec } = LOGIN_LIMITS
  return [
    { key: `${loginUserKeyPrefix(input.orgName)}${input.username}`, limit: perUser, windowSec },
    { key: `login:addr:${address}`, limit: perAddress, windowSec },
  ]
}

/**
 * Checks the password and opens a session. Every refusal is the same 401, whether the org, the
 * user or the password was wrong, or the user is a machine. 429 when the limits are reached.
 */
export async function login(env: Env, input: LoginInput, address: string) {
  const windows = loginWindows(input, address)
  await takeAttempt(env, windows)

  const db = dbOf(env)
  const user = await db
    .select({
      orgId: orgs.id,
      orgState: orgs.state,
      userId: users.id,
      machine: users.machine,
      passwordHash: users.passwordHash,
    })
    .from(users)
    .innerJoin(orgs, eq(orgs.id, users.orgId))
    .where(and(eq(orgs.name, input.orgName), eq(users.username, input.username)))
    .get()
  const usable = user?.orgState === 'active' && !user.machine && user.passwordHash ? user : null
  const matches = await verifyPassword(input.password, usable?.passwordHash ?? DECOY_HASH)
  if (!usable || !matches) throw unauthenticated(LOGIN_REFUSED)
  await giveBack(env, windows)

  const besessionToken = newSecret('rks')
  const expires = isoNow(settingsOf(env).sessionTtlSec)
  await db.insert(sessions).values({
    id: newId(),
    orgId: usable.orgId,
    userId: usable.userId,
    kind: 'session',
    hash: await sha256Hex(besessionToken),
    expires,
  })
  const { permissions } = await permissionsOf(env, usable.userId)
  return { besessionToken, expires, permissions }
}

/** Makes an auth token from a live session token; it never outlives its session. 401 otherwise. */
export async function openAuthToken(env: Env, sessionToken: string) {
  const session = await findLiveToken(env, sessionToken, 'session')
  if (!session) throw unauthenticated('session token is invalid, expired or revoked')

  const db = dbOf(env)
  const parent = await db
    .select({ expires: sessions.expires })
    .from(sessions)
    .where(eq(sessions.id, session.id))
    .get()
  const wanted = isoNow(settingsOf(env).authTtlSec)
  const expires = parent && parent.expires < wanted ? parent.expires : wanted

  const beauthToken = newSecret('rka')
  await db.insert(sessions).values({
    id: newId(),
    orgId: session.orgId,
    userId: session.userId,
    kind: 'auth',
    parentId: session.id,
    hash: await sha256Hex(beauthToken),
    expires,
  })
  return { beauthToken, expires, orgName: session.orgName, username: session.username }
}

/** The tokens logout accepts: the session token itself or an auth token made from it. */
export interface LogoutTokens {
  sessionToken?: string
  authToken?: string
}

/** Revokes the session named by either token, and every auth token made from it. 401 otherwise. */
export async function logout(env: Env, tokens: LogoutTokens) {
  let sessionId: string | null = null
  if (tokens.sessionToken) {
    sessionId = (await findLiveToken(env, tokens.sessionToken, 'session'))?.id ?? null
  } else if (tokens.authToken) {
    sessionId = (await findLiveToken(env, tokens.authToken, 'auth'))?.parentId ?? null
  }
  if (!sessionId) {
    throw unauthenticated('a live session token or auth token is required to log out')
  }
  await dbOf(env)
    .update(sessions)
    .set({ revoked: true })
    .where(or(eq(sessions.id, sessionId), eq(sessions.parentId, sessionId)))
  return { sessionId }
}

/** Revokes every session (and so every auth token) of a user, except `keepSessionId`. */
export async function revokeSessionsOf(env: Env, userId: string, keepSessionId?: string) {
  const keep = keepSessionId
    ? and(
        ne(sessions.id, keepSessionId),
        or(isNull(sessions.parentId), ne(sessions.parentId, keepSessionId)),
      )
    : undefined
  await dbOf(env)
    .update(sessions)
    .set({ revoked: true })
    .where(and(eq(sessions.userId, userId), eq(sessions.revoked, false), keep))
}
