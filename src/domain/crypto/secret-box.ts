/**
 * Secrets the service must read back later (webhook signing secrets, origin credentials) are
 * sealed with AES-256-GCM under a key derived from the instance's `EDGE_ENCRYPTION_KEY`. Hashing
 * is not enough for them: the service itself has to use the plain value.
 *
 * The AES key is derived with HKDF-SHA-256, so any base64 key of 16 bytes or more works and the
 * raw setting is never used as a cipher key directly. A sealed value reads
 * `v1.<iv base64url>.<ciphertext+tag base64url>`. The optional `context` (e.g. the record's id)
 * is bound as additional data: a sealed value copied onto another record does not open there.
 */
import { base64url, fromBase64 } from '../auth/secrets'

const VERSION = 'v1'
const encoder = new TextEncoder()
const decoder = new TextDecoder()
const keys = new Map<string, Promise<CryptoKey>>()

function fromBase64url(value: string): Uint8Array {
  const padded = value.replaceAll('-', '+').replaceAll('_', '/')
  return fromBase64(padded + '='.repeat((4 - (padded.length % 4)) % 4))
}

function boxKey(keyBase64: string): Promise<CryptoKey> {
  let key = keys.get(keyBase64)
  if (!key) {
    key = (async () => {
      const material = await crypto.subtle.importKey('raw', fromBase64(keyBase64), 'HKDF', false, [
        'deriveKey',
      ])
      return crypto.subtle.deriveKey(
        {
          name: 'HKDF',
          hash: 'SHA-256',
          salt: new Uint8Array(0),
          info: encoder.encode('rockit-edge secret-box v1'),
        },
        material,
        { name: 'AES-GCM', length: 256 },
        false,
        ['encrypt', 'decrypt'],
      )
    })()
    keys.set(keyBase64, key)
  }
  return key
}

/**
 * Seals `plain` under the instance key. Each call uses a fresh random IV, so sealing the same
 * value twice gives different text.
 *
 * @example await sealSecret(settingsOf(env).encryptionKey, secret, `subscription:${id}`)
 */
export async function sealSecret(keyBase64: string, plain: string, context = ''): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12))
  const sealed = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv, additionalData: encoder.encode(context) },
    await boxKey(keyBase64),
    encoder.encode(plain),
  )
  return `${VERSION}.${base64url(iv)}.${base64url(new Uint8Array(sealed))}`
}

/** Opens a value made by `sealSecret` with the same key and context. Throws when it does not. */
export async function openSecret(keyBase64: string, sealed: string, context = ''): Promise<string> {
  const [version, iv, body] = sealed.split('.')
  if (version !== VERSION || !iv || !body) throw new Error('not a sealed secret')
  const plain = await crypto.subtle.decrypt(
    { name: 'AES-GCM', iv: fromBase64url(iv), additionalData: encoder.encode(context) },
    await boxKey(keyBase64),
    fromBase64url(body),
  )
  return decoder.decode(plain)
}
