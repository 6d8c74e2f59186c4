/**
 * The settings of a deployment's origin and download signing, as the API takes them, and the
 * checks they pass before they are stored: an S3 endpoint or NetStorage host is a bare host
 * (HTTPS) or `scheme://host[:port]`, never holds the bucket, and must be a target the instance
 * may call (`targetProblem`).
 */
import { z } from '@hono/zod-openapi'
import { targetProblem } from '../net/target-check'
import { isAkamaiKey } from './akamai-token'

const hostOrUrl = z.string().min(1).max(300).openapi({ example: 's3.eu-central-1.amazonaws.com' })
const bucketName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{1,62}$/, 'must be a bucket name (3..63 of A-Z a-z 0-9 . _ -)')

export const s3OriginSchema = z
  .strictObject({
    type: z.literal('s3'),
    endpoint: hostOrUrl.openapi({
      description: 'Bare host (HTTPS) or scheme://host[:port]; never the bucket',
    }),
    region: z.string().regex(/^[A-Za-z0-9-]{1,50}$/, 'must be a region name such as us-east-1'),
    bucket: bucketName,
    accessKeyId: z.string().regex(/^\S{1,256}$/, 'must be 1..256 characters without spaces'),
    secretAccessKey: z.string().min(1).max(256),
  })
  .openapi('S3Origin')

export const netStorageOriginSchema = z
  .strictObject({
    type: z.literal('netstorage'),
    host: hostOrUrl.openapi({
      description: 'NetStorage HTTP API host (HTTPS) or scheme://host[:port]',
      example: 'example-nsu.akamaihd.net',
    }),
    keyName: z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, 'must be an upload account key name'),
    key: z.string().min(1).max(256),
    cpCode: z.union([z.string().regex(/^\d{1,10}$/, 'must be digits'), z.number().int().min(0)]),
  })
  .openapi('NetStorageOrigin')

export const r2OriginSchema = z
  .strictObject({
    type: z.literal('r2'),
    bucket: bucketName
      .optional()
      .openapi({ description: 'Namespace inside the instance bucket (default r2)' }),
  })
  .openapi('R2Origin')

export const originSchema = z.discriminatedUnion('type', [
  s3OriginSchema,
  netStorageOriginSchema,
  r2OriginSchema,
])
export type OriginInput = z.infer<typeof originSchema>

/** The origin fields a PATCH may send: any of them, merged into the stored origin of its type. */
export const originPatchSchema = z
  .strictObject({
    type: z.enum(['s3', 'netstorage', 'r2']).optional(),
    endpoint: z.string().optional(),
    region: z.string().optional(),
    bucket: z.string().optional(),
    accessKeyId: z.string().optional(),
    secretAccessKey: z.string().optional(),
    host: z.string().optional(),
    keyName: z.string().optional(),
    key: z.string().optional(),
    cpCode: z.union([z.string(), z.number()]).optional(),
  })
  .openapi('OriginChanges')

export const downloadAuthSchema = z
  .strictObject({
    type: z.enum(['akamai', 'gcore']),
    key: z.string().min(1).max(256).openapi({ description: 'akamai: the token key, hex digits' }),
    ttlSec: z.number().int().min(1).max(31_536_000),
  })
  .refine((auth) => auth.type !== 'akamai' || isAkamaiKey(auth.key), {
    path: ['key'],
    message: 'an akamai token key must be an even number of hex digits',
  })
  .openapi('DownloadAuth')
export type DownloadAuthInput = z.infer<typeof downloadAuthSchema>

export const downloadAuthPatchSchema = z.strictObject({
  type: z.enum(['akamai', 'gcore']).optional(),
  key: z.string().optional(),
  ttlSec: z.number().optional(),
})

/** The S3 origin as stored and used: endpoint normalised to `scheme://host[:port]`. */
export interface S3OriginSettings {
  type: 's3'
  endpoint: string
  region: string
  bucket: string
  accessKeyId: string
  secretAccessKey: string
}

export interface NetStorageOriginSettings {
  type: 'netstorage'
  host: string
  keyName: string
  key: string
  cpCode: string
}

export interface R2OriginSettings {
  type: 'r2'
  bucket: string
}

/** An origin with plain secrets (only in memory; stored sealed). */
export type OriginSettings = S3OriginSettings | NetStorageOriginSettings | R2OriginSettings

export interface DownloadAuthSettings {
  type: 'akamai' | 'gcore'
  key: string
  ttlSec: number
}

/** The default R2 namespace. */
export const DEFAULT_R2_BUCKET = 'r2'

/** Where the instance may send requests, for `targetProblem`. */
export interface TargetRules {
  allowPrivateTargets: boolean
  selfUrl?: string
}

/**
 * `host`, `https://host` or `http://127.0.0.1:9000` -> `scheme://host[:port]`, or the reason it
 * is not acceptable. `bucket` is refused inside the endpoint.
 */
export function normaliseEndpoint(
  raw: string,
  rules: TargetRules,
  bucket?: string,
): { url: string } | { problem: string } {
  const text = raw.trim()
  const withScheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(text) ? text : `https://${text}`
  let url: URL
  try {
    url = new URL(withScheme)
  } catch {
    return { problem: 'must be a host name or an http(s) URL' }
  }
  if (url.pathname !== '/' && url.pathname !== '') {
    return { problem: 'must not hold a path; give the bucket in bucket' }
  }
  if (url.search || url.hash) return { problem: 'must not hold a query or fragment' }
  if (bucket && url.hostname.toLowerCase().startsWith(`${bucket.toLowerCase()}.`)) {
    return { problem: 'must not hold the bucket; give the bare endpoint (path-style access)' }
  }
  const problem = targetProblem(url.href, rules)
  if (problem) return { problem }
  return { url: `${url.protocol}//${url.host}` }
}

/** A `{field, reason}` list for a bad origin, or the normalised settings. */
export function normaliseOrigin(
  input: OriginInput,
  rules: TargetRules,
): { settings: OriginSettings } | { problems: { field: string; reason: string }[] } {
  if (input.type === 's3') {
    const endpoint = normaliseEndpoint(input.endpoint, rules, input.bucket)
    if ('problem' in endpoint) {
      return { problems: [{ field: 'origin.endpoint', reason: endpoint.problem }] }
    }
    return { settings: { ...input, endpoint: endpoint.url } }
  }
  if (input.type === 'netstorage') {
    const host = normaliseEndpoint(input.host, rules)
    if ('problem' in host) return { problems: [{ field: 'origin.host', reason: host.problem }] }
    return { settings: { ...input, host: host.url, cpCode: String(input.cpCode) } }
  }
  return { settings: { type: 'r2', bucket: input.bucket ?? DEFAULT_R2_BUCKET } }
}

/**
 * A deployment's `publicUrl` (the CDN hostname in front of the origin, maybe with a base path)
 * as stored: `scheme://host[:port][/path]` without a trailing slash, or why it is refused. The
 * service never calls it, so it is not a target to check; it is handed to launchers.
 */
export function normalisePublicUrl(raw: string): { url: string } | { problem: string } {
  let url: URL
  try {
    url = new URL(raw.trim())
  } catch {
    return { problem: 'must be an absolute http(s) URL' }
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return { problem: 'must be an absolute http(s) URL' }
  }
  if (url.username || url.password) return { problem: 'must not hold credentials' }
  if (url.search || url.hash || raw.includes('?') || raw.includes('#')) {
    return { problem: 'must not hold a query or fragment' }
  }
  return { url: `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}` }
}

/** The URL an origin's requests go to (null for R2), for re-checking before a publish. */
export function originTarget(settings: OriginSettings): string | null {
  if (settings.type === 's3') return settings.endpoint
  if (settings.type === 'netstorage') return settings.host
  return null
}
