/**
 * Random secrets, their hashes, and constant-time comparison. Secrets handed to clients (API keys,
 * session and auth tokens, trace keys, upload URLs) are 32 random bytes; only their SHA-256 is
 * stored, and they are found by that hash, so a guess reveals nothing through timing.
 */

const encoder = new TextEncoder()

/** URL-safe base64 without padding. */
export function base64url(bytes: Uint8Array): string {
  let binary = ''
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '')
}

/** Standard base64 to bytes. */
export function fromBase64(value: string): Uint8Array<ArrayBuffer> {
  const binary = atob(value)
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  return bytes
}

/** Standard base64 of bytes. */
export function toBase64(bytes: Uint8Array): string {
  let binary = ''
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary)
}

/** A new secret: `<prefix>_<43 chars of base64url>`, e.g. `rkk_...` for an API key. */
export function newSecret(prefix: string): string {
  return `${prefix}_${base64url(crypto.getRandomValues(new Uint8Array(32)))}`
}

/** Lowercase hex SHA-256 of a string or bytes. */
export async function sha256Hex(value: string | Uint8Array): Promise<string> {
  // Never a SharedArrayBuffer here; the cast only narrows the buffer type for WebCrypto.
  const bytes = (
    typeof value === 'string' ? encoder.encode(value) : value
  ) as Uint8Array<ArrayBuffer>
  const digest = await crypto.subtle.digest('SHA-256', bytes)
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('')
}

/** Compares two strings in time that depends only on their lengths. */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = encoder.encode(a)
  const right = encoder.encode(b)
  let diff = left.length ^ right.length
  const length = Math.max(left.length, right.length)
  for (let i = 0; i < length; i++) diff |= (left[i] ?? 0) ^ (right[i] ?? 0)
  return diff === 0
}

/** A random id for records that are not secrets (uuid v4). */
export function newId(): string {
  return crypto.randomUUID()
}

/** A readable random password of 20 characters from an unambiguous alphabet. */
export function newPassword(): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789'
  const bytes = crypto.getRandomValues(new Uint8Array(20))
  return [...bytes].map((b) => alphabet[b % alphabet.length]).join('')
}
