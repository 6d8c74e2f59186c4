/**
 * Request signing for the Akamai NetStorage HTTP API (authentication version 5).
 *
 * Hand-written because no Workers-ready library exists: Akamai's own clients are for Node (they
 * use `crypto.createHmac` and Node streams). This implements the published algorithm with
 * WebCrypto:
 *
 * - `X-Akamai-ACS-Action`: the action, e.g. `version=1&action=upload`.
 * - `X-Akamai-ACS-Auth-Data`: `5, 0.0.0.0, 0.0.0.0, <unix time>, <unique id>, <key name>`.
 * - `X-Akamai-ACS-Auth-Sign`: base64 of HMAC-SHA256 keyed with the upload key over
 *   `<auth data><url path>\nx-akamai-acs-action:<action>\n`.
 *
 * The path is the request path exactly as sent (`/<cpCode>/...`, percent-encoded), without the
 * query. NetStorage refuses a time too far from its clock, so the caller's clock must be right.
 */

const encoder = new TextEncoder()

export interface NetStorageSignInput {
  keyName: string
  /** The upload account's key (the shared secret). */
  key: string
  /** The URL path as sent, e.g. `/123456/games/dxf/acme/myGame/0001/dxf-0001-01/image.dxf`. */
  path: string
  /** The action header value, e.g. `version=1&action=upload`. */
  action: string
  /** Unix seconds; now by default. */
  time?: number
  /** A value unique per request; random by default. */
  uniqueId?: string
}

/** The `X-Akamai-ACS-Auth-Data` header value. */
export function netStorageAuthData(keyName: string, time: number, uniqueId: string): string {
  return `5, 0.0.0.0, 0.0.0.0, ${time}, ${uniqueId}, ${keyName}`
}

/** The text that is signed: auth data, then path and action on their own lines. */
export function netStorageSignString(authData: string, path: string, action: string): string {
  return `${authData}${path}\nx-akamai-acs-action:${action}\n`
}

/** base64(HMAC-SHA256(key, text)). */
export async function netStorageSignature(key: string, text: string): Promise<string> {
  const hmacKey = await crypto.subtle.importKey(
    'raw',
    encoder.encode(key),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  )
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', hmacKey, encoder.encode(text)))
  let binary = ''
  for (const byte of mac) binary += String.fromCharCode(byte)
  return btoa(binary)
}

/**
 * The three headers that authenticate one NetStorage request.
 *
 * @example
 * await netStorageHeaders({ keyName: 'upload1', key, path: '/123456/a/b.dxf',
 *   action: 'version=1&action=upload' })
 */
export async function netStorageHeaders(
  input: NetStorageSignInput,
): Promise<Record<string, string>> {
  const time = input.time ?? Math.floor(Date.now() / 1000)
  const uniqueId = input.uniqueId ?? randomUniqueId()
  const authData = netStorageAuthData(input.keyName, time, uniqueId)
  const sign = await netStorageSignature(
    input.key,
    netStorageSignString(authData, input.path, input.action),
  )
  return {
    'X-Akamai-ACS-Action': input.action,
    'X-Akamai-ACS-Auth-Data': authData,
    'X-Akamai-ACS-Auth-Sign': sign,
  }
}

function randomUniqueId(): string {
  const bytes = crypto.getRandomValues(new Uint32Array(2))
  return `${bytes[0]}${bytes[1]}`
}
