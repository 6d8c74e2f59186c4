/**
 * Route modules are `OpenAPIHono` routers made here, so every route validates with the same hook:
 * a zod failure becomes a 400 listing each bad field and why (unknown fields included).
 */
import { OpenAPIHono } from '@hono/zod-openapi'
import type { z } from 'zod'
import type { AppEnv } from './context'
import { invalidParam } from './errors'

/**
 * Turns zod issues into `{field, reason}` details; unknown keys are named one by one. A field
 * appears once, with the first reason zod gives: one value can fail several checks (1e20 is
 * neither a safe integer nor under a maximum).
 */
export function issueDetails(issues: z.core.$ZodIssue[]): { field: string; reason: string }[] {
  const details = issues.flatMap((issue) => {
    const path = issue.path.map(String).join('.')
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({
        field: path ? `${path}.${key}` : key,
        reason: 'unknown field',
      }))
    }
    return [{ field: path || '(body)', reason: issue.message }]
  })
  const named = new Set<string>()
  return details.filter((detail) => !named.has(detail.field) && named.add(detail.field))
}

/** A new router whose validation failures answer 400 in the API's envelope. */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw invalidParam(issueDetails(result.error.issues))
    },
  })
}
