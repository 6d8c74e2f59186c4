/**
 * Akamai token authorization (EdgeAuth, "Auth Token 2.0") for download URLs handed to launchers.
 *
 * Hand-written because no Workers-ready library exists: Akamai's generators are for Node, Python
 * and Java. This implements the published algorithm for an ACL token with WebCrypto:
 *
 * - the fields, joined by `~` in this order: `exp=<unix seconds>`, `acl=<path pattern>`;
 * - `hmac=` the lowercase hex HMAC-SHA256 of those joined fields, keyed with the token key read
 *   as hex (the key the Akamai property's "Auth Token 2.0 Verification" holds);
 * - the token is the fields and the hmac, again joined by `~`:
 *   `exp=1700000600~acl=/games/dxf/acme/myGame/0002/dxf-0002-01/*~hmac=5f0c...`.
 *
 * Optional fields of the algorithm (`ip`, `st`, `id`, `data`, `salt`) are not used. The token
 * travels in the query as `hdnts=<token>` (the parameter name the property is set up to read).
 */

const encoder = new TextEncoder()

/** The query parameter the token travels in. */
export const AKAMAI_TOKEN_PARAM = 'hdnts'

/** Whether `key` is usable: hex digits, an even number of them. */
export function isAkamaiKey(key: string): boolean {
  return /^(?:[0-9A-Fa-f]{2})+$/.test(key)
}

function hexBytes(hex: string): Uint8Array<ArrayBuffer> {
  if (!isAkamaiKey(hex)) throw new Error('an Akamai token key must be an even number of hex digits')
  const bytes = new Uint8Array(hex.length / 2)
  for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16)
  return bytes
}

const hex = (bytes: ArrayBuffer) =>
  [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, '0')).join('')

export interface AkamaiTokenInput {
  /** The token key, hex. */
  key: string
  /** The path pattern the token allows, e.g. `/games/dxf/acme/myGame/0002/dxf-0002-01/*`. */
  acl: string
  /** Unix seconds after which the token is refused. */
  expires: number
}

/** The token: `exp=<expires>~acl=<acl>~hmac=<hex>`. */
export async function akamaiToken(input: AkamaiTokenInput): Promise<string> {
  const fields = `exp=${input.expires}~acl=${input.acl}`
  const key = await crypto.subtle.importKey(
    'raw',
    hexBytes(input.key),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  )
  const mac = await crypto.subtle.sign('HMAC', key, encoder.encode(fields))
  return `${fields}~hmac=${hex(mac)}`
}

/**
 * `url` with a token valid for `ttlSec` from `now` (ms) for every file of its directory: the
 * ACL is the directory of the URL's path followed by `*`, so the same token opens `image.dxf`
 * and `profile.json` beside it.
 */
export async function akamaiSignedUrl(
  url: string,
  key: string,
  ttlSec: number,
  now = Date.now(),
): Promise<string> {
  const parsed = new URL(url)
  const acl = `${parsed.pathname.slice(0, parsed.pathname.lastIndexOf('/') + 1)}*`
  const token = await akamaiToken({ key, acl, expires: Math.floor(now / 1000) + ttlSec })
  return `${url}${parsed.search ? '&' : '?'}${AKAMAI_TOKEN_PARAM}=${token}`
}
