/**
 * The Worker's bindings and instance settings. Settings are checked by a zod schema on first use
 * so a missing or malformed secret fails every request with one clear message instead of a
 * confusing error deep inside a handler.
 */
import { z } from 'zod'
import type { AppCoordinator } from './coordinator/app-coordinator'
import type { EventMessage } from './events/messages'
import type { TaskMessage } from './tasks/messages'

export interface Env {
  DB: D1Database
  BUCKET: R2Bucket
  TASKS: Queue<TaskMessage>
  EVENTS: Queue<EventMessage>
  APP_COORDINATOR: DurableObjectNamespace<AppCoordinator>
  EDGE_ADMIN_SECRET: string
  EDGE_ENCRYPTION_KEY: string
  PUBLIC_URL: string
  ALLOW_PRIVATE_TARGETS: string
  MAX_UPLOAD_BYTES: string
  SESSION_TTL_SEC: string
  AUTH_TTL_SEC: string
  UPLOAD_URL_TTL_SEC: string
  LOG_LEVEL: string
  EVENT_BACKOFF_SCALE: string
}

const base64Secret = (name: string) =>
  z
    .string({ error: `${name} is not set` })
    .min(1, `${name} is not set`)
    .refine((value) => {
      try {
        return atob(value).length >= 16
      } catch {
        return false
      }
    }, `${name} must be base64 of at least 16 bytes`)

const flag = z
  .string()
  .optional()
  .transform((value) => value === 'true' || value === '1')

const seconds = (fallback: number) =>
  z
    .string()
    .optional()
    .transform((value) => (value ? Number(value) : fallback))
    .pipe(z.number().int().positive())

const settingsSchema = z.object({
  EDGE_ADMIN_SECRET: base64Secret('EDGE_ADMIN_SECRET'),
  EDGE_ENCRYPTION_KEY: base64Secret('EDGE_ENCRYPTION_KEY'),
  PUBLIC_URL: z.string().optional().default(''),
  ALLOW_PRIVATE_TARGETS: flag,
  MAX_UPLOAD_BYTES: seconds(100 * 1024 ** 3),
  SESSION_TTL_SEC: seconds(86_400),
  AUTH_TTL_SEC: seconds(300),
  UPLOAD_URL_TTL_SEC: seconds(86_400),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).optional().default('info'),
  EVENT_BACKOFF_SCALE: z
    .string()
    .optional()
    .transform((value) => (value ? Number(value) : 1))
    .pipe(z.number().min(0).max(1, 'EVENT_BACKOFF_SCALE must be between 0 and 1')),
})

/** Instance settings, parsed from the Worker's vars and secrets. */
export interface Settings {
  adminSecret: string
  encryptionKey: string
  publicUrl: string
  allowPrivateTargets: boolean
  maxUploadBytes: number
  sessionTtlSec: number
  authTtlSec: number
  uploadUrlTtlSec: number
  logLevel: 'debug' | 'info' | 'warn' | 'error'
  /** Multiplies the webhook retry delays: 1 in production, 0 in tests (retries at once). */
  eventBackoffScale: number
}

/** Thrown when the instance is misconfigured; answered as 503 with the reason. */
export class ConfigError extends Error {
  override name = 'ConfigError'
}

const cache = new WeakMap<object, Settings>()

/** Reads and validates the settings once per `env` object. Throws `ConfigError`. */
export function settingsOf(env: Env): Settings {
  const known = cache.get(env)
  if (known) return known

  const parsed = settingsSchema.safeParse(env)
  if (!parsed.success) {
    const reasons = parsed.error.issues.map((issue) => issue.message).join('; ')
    throw new ConfigError(`instance misconfigured: ${reasons}`)
  }
  const value = parsed.data
  const settings: Settings = {
    adminSecret: value.EDGE_ADMIN_SECRET,
    encryptionKey: value.EDGE_ENCRYPTION_KEY,
    publicUrl: value.PUBLIC_URL.replace(/\/+$/, ''),
    allowPrivateTargets: value.ALLOW_PRIVATE_TARGETS,
    maxUploadBytes: value.MAX_UPLOAD_BYTES,
    sessionTtlSec: value.SESSION_TTL_SEC,
    authTtlSec: value.AUTH_TTL_SEC,
    uploadUrlTtlSec: value.UPLOAD_URL_TTL_SEC,
    logLevel: value.LOG_LEVEL,
    eventBackoffScale: value.EVENT_BACKOFF_SCALE,
  }
  cache.set(env, settings)
  return settings
}
