/** Request and response schemas of roles and permission grants. */
import { z } from '@hono/zod-openapi'
import {
  OPERATION_BIT,
  RESOURCE_MAX,
  RESOURCES,
  type Resource,
} from '../../domain/auth/permissions'
import { labelSchema, nameSchema } from '../../http/schemas'

const LETTER = { create: 'C', read: 'R', update: 'U', delete: 'D', execute: 'X' } as const

function grantValue(resource: Resource) {
  const max = RESOURCE_MAX[resource]
  const letters = Object.entries(OPERATION_BIT)
    .filter(([, bit]) => (max & bit) !== 0)
    .map(([op]) => LETTER[op as keyof typeof LETTER])
    .join('')
  return z
    .number()
    .int()
    .refine((value) => value >= 0 && (value & ~max) === 0, {
      message: `${resource} allows ${letters}: a value from 0 to ${max} of only those bits`,
    })
    .openapi({ description: `bitmask of ${letters}, at most ${max}` })
}

/** A grant as sent: resources absent are 0 (POST) or unchanged (PATCH); unknown ones are a 400. */
export const grantInput = z
  .strictObject(
    Object.fromEntries(RESOURCES.map((r) => [r, grantValue(r).optional()])) as Record<
      Resource,
      z.ZodOptional<ReturnType<typeof grantValue>>
    >,
  )
  .openapi('GrantInput', { example: { apps: 15, beUsers: 2, tasks: 31 } })

/** A grant as answered: every resource with its bitmask. */
export const permissionsSchema = z
  .object(
    Object.fromEntries(RESOURCES.map((r) => [r, z.number().int()])) as Record<
      Resource,
      z.ZodNumber
    >,
  )
  .openapi('Permissions')

export const roleSchema = z
  .object({
    name: z.string(),
    label: z.string().nullable(),
    permissions: permissionsSchema,
    builtin: z.boolean().openapi({ description: 'true for Administrators' }),
    created: z.string(),
    updated: z.string(),
  })
  .openapi('Role')

export const ROLE_FIELDS = [
  'name',
  'label',
  'permissions',
  'builtin',
  'created',
  'updated',
] as const
export const ROLE_ORDER = ['name', 'created', 'updated'] as const

export const createRoleBody = z
  .strictObject({
    name: nameSchema,
    label: labelSchema.optional(),
    permissions: grantInput,
  })
  .openapi('CreateRole')

export const updateRoleBody = z
  .strictObject({
    name: nameSchema,
    label: labelSchema.nullable().optional(),
    permissions: grantInput.optional(),
  })
  .openapi('UpdateRole')
