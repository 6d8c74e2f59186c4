/**
 * Operator tokens for the Admin API: HS256 JWTs `{"username":"<who>"}` whose key is the decoded
 * bytes of the instance's base64 `EDGE_ADMIN_SECRET`. Any other algorithm (`none` included) is
 * refused. Runs in workerd and in Node (the CLI mints tokens with the same code).
 */
import { sign, verify } from 'hono/utils/jwt/jwt'
import { fromBase64 } from './secrets'

async function adminKey(secretBase64: string): Promise<CryptoKey> {
  return crypto.subtle.importKey(
    'raw',
    fromBase64(secretBase64),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign', 'verify'],
  )
}

/** Mints an admin token for `username` (optionally expiring after `ttlSec`). */
export async function signAdminToken(
  secretBase64: string,
  username: string,
  ttlSec?: number,
): Promise<string> {
  const iat = Math.floor(Date.now() / 1000)
  const payload = ttlSec ? { username, iat, exp: iat + ttlSec } : { username, iat }
  return sign(payload, await adminKey(secretBase64), 'HS256')
}

/** Verifies an admin token and returns the operator's name, or null when it is not valid. */
export async function verifyAdminToken(
  secretBase64: string,
  token: string,
): Promise<string | null> {
  try {
    const payload = await verify(token, await adminKey(secretBase64), 'HS256')
    const username = payload.username
    if (typeof username !== 'string' || !/^[A-Za-z0-9_.@-]{1,100}$/.test(username)) return null
    return username
  } catch {
    return null
  }
}
