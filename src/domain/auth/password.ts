/**
 * Password hashing: PBKDF2-SHA-256 through WebCrypto with a per-user 16-byte salt. Production
 * Workers refuse more than 100,000 iterations (STACK.md), so that is the count; the count is
 * stored with each hash so it can change later without breaking old hashes.
 */
import { constantTimeEqual, fromBase64, toBase64 } from './secrets'

/** Iterations for new hashes: the most production Workers allow. */
export const PBKDF2_ITERATIONS = 100_000

async function derive(password: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey(
    'raw',
    new TextEncoder().encode(password),
    'PBKDF2',
    false,
    ['deriveBits'],
  )
  const bits = await crypto.subtle.deriveBits(
    { name: 'PBKDF2', hash: 'SHA-256', salt, iterations },
    key,
    256,
  )
  return new Uint8Array(bits)
}

/** Hashes a password as `pbkdf2-sha256$<iterations>$<salt>$<hash>` (base64 parts). */
export async function hashPassword(password: string): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(16))
  const hash = await derive(password, salt, PBKDF2_ITERATIONS)
  return `pbkdf2-sha256$${PBKDF2_ITERATIONS}$${toBase64(salt)}$${toBase64(hash)}`
}

/** Checks a password against a stored hash in constant time. */
export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  const parts = stored?.split('$')
  if (parts?.length !== 4 || parts[0] !== 'pbkdf2-sha256') return false
  const iterations = Number(parts[1])
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > PBKDF2_ITERATIONS)
    return false
  const hash = await derive(password, fromBase64(parts[2]), iterations)
  return constantTimeEqual(toBase64(hash), parts[3])
}
