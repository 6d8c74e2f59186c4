/**
 * The `x-rockit-subscriptions` header of a webhook call: an HS256 JWT keyed with the UTF-8 bytes
 * of the subscription's secret, naming the event and the SHA-256 of the exact body sent. Every
 * attempt is signed afresh (new `iat`/`exp`); retries keep the `eventId`.
 */
import { sign } from 'hono/utils/jwt/jwt'
import { sha256Hex } from '../domain/auth/secrets'

/** Issuer claim of every webhook signature. */
export const SIGNATURE_ISSUER = 'rockit-edge'

/** How long a signature stays valid, in seconds. */
export const SIGNATURE_TTL_SEC = 300

/** The claims a receiver finds in `x-rockit-subscriptions`. */
export interface EventSignatureClaims {
  iss: typeof SIGNATURE_ISSUER
  eventId: string
  /** Lowercase hex SHA-256 of the raw request body. */
  sha256: string
  iat: number
  exp: number
}

/** Signs one attempt of `eventId` whose request body is exactly `rawBody`. */
export async function signEvent(
  secret: string,
  eventId: string,
  rawBody: string,
  nowSec = Math.floor(Date.now() / 1000),
): Promise<string> {
  const claims: EventSignatureClaims = {
    iss: SIGNATURE_ISSUER,
    eventId,
    sha256: await sha256Hex(rawBody),
    iat: nowSec,
    exp: nowSec + SIGNATURE_TTL_SEC,
  }
  return sign({ ...claims }, secret, 'HS256')
}
