/** Request and response schemas of users (`beUsers`). */
import { z } from '@hono/zod-openapi'
import { labelSchema, nameSchema } from '../../http/schemas'

const email = z.email().max(200)
const personName = z.string().min(1).max(100)
const title = z.string().max(100)
const roleNames = z.array(nameSchema).max(50)
const password = z.string().min(8, 'at least 8 characters').max(200)

export const userSchema = z
  .object({
    username: z.string(),
    machine: z.boolean(),
    email: z.string().nullable(),
    firstname: z.string().nullable(),
    surname: z.string().nullable(),
    title: z.string().nullable(),
    label: z.string().nullable(),
    roles: z.array(z.string()),
    created: z.string(),
    updated: z.string(),
  })
  .openapi('User')

export const USER_FIELDS = [
  'username',
  'machine',
  'email',
  'firstname',
  'surname',
  'title',
  'label',
  'roles',
  'created',
  'updated',
] as const
export const USER_ORDER = ['username', 'machine', 'created', 'updated'] as const

export const createUserBody = z
  .strictObject({
    username: nameSchema,
    machine: z
      .boolean()
      .optional()
      .openapi({ description: 'Default: true when label is sent without email' }),
    email: email.optional(),
    firstname: personName.optional(),
    surname: personName.optional(),
    title: title.optional(),
    label: labelSchema.optional().openapi({ description: 'Required for a machine user' }),
    roles: roleNames,
  })
  .openapi('CreateUser', {
    example: {
      username: 'jdoe',
      email: 'jdoe@example.com',
      firstname: 'Jane',
      surname: 'Doe',
      roles: ['Publishers'],
    },
  })

export const updateUserBody = z
  .strictObject({
    username: nameSchema,
    email: email.nullable().optional(),
    firstname: personName.nullable().optional(),
    surname: personName.nullable().optional(),
    title: title.nullable().optional(),
    label: labelSchema.nullable().optional(),
    roles: roleNames.optional(),
    oldPW: z.string().max(200).optional(),
    newPW: password.optional(),
    resetCreds: z
      .boolean()
      .optional()
      .openapi({ description: 'New password (human) or API key (machine), answered once' }),
  })
  .openapi('UpdateUser')

export const userQuery = z.object({
  username: z.string().max(50).optional().openapi({ description: 'Part of the username' }),
  machine: z
    .enum(['true', 'false'])
    .optional()
    .transform((v) => (v === undefined ? undefined : v === 'true')),
})
