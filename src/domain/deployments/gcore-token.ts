/**
 * Gcore CDN secure token for download URLs handed to launchers.
 *
 * Hand-written because no Workers-ready library exists (Gcore publishes PHP, Python and shell
 * scripts). The documented format, the one nginx's `secure_link_md5` checks:
 *
 * - the signed text is `<expires><path><ip> <key>`: the expiry in unix seconds, the URL path as
 *   requested (`/games/dxf/.../image.dxf`), the client IP when the resource binds tokens to one
 *   (never here), a space, and the key of the CDN resource's "Secure token" option;
 * - `md5` is the MD5 of that text in URL-safe base64 without padding (`+/` become `-_`);
 * - the URL carries `?md5=<md5>&expires=<expires>`.
 *
 * MD5 is not part of WebCrypto; Workers offer `crypto.subtle.digest('MD5', ...)` as an extension,
 * which is what this uses (so it runs in the Worker, not in Node's WebCrypto).
 */
import { base64url } from '../auth/secrets'

const encoder = new TextEncoder()

export interface GcoreTokenInput {
  /** The secure token key of the CDN resource. */
  key: string
  /** The URL path exactly as requested, starting with `/`. */
  path: string
  /** Unix seconds after which the link is refused. */
  expires: number
  /** Only for resources that bind tokens to a client address. */
  ip?: string
}

/** The `md5` query value. */
export async function gcoreToken(input: GcoreTokenInput): Promise<string> {
  const text = `${input.expires}${input.path}${input.ip ?? ''} ${input.key}`
  const digest = await crypto.subtle.digest('MD5', encoder.encode(text))
  return base64url(new Uint8Array(digest))
}

/** `url` signed for `ttlSec` from `now` (ms): `?md5=...&expires=...` for exactly its path. */
export async function gcoreSignedUrl(
  url: string,
  key: string,
  ttlSec: number,
  now = Date.now(),
): Promise<string> {
  const parsed = new URL(url)
  const expires = Math.floor(now / 1000) + ttlSec
  const md5 = await gcoreToken({ key, path: parsed.pathname, expires })
  return `${url}${parsed.search ? '&' : '?'}md5=${md5}&expires=${expires}`
}
