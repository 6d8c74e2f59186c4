/** Request and response schemas of organisations. */
import { z } from '@hono/zod-openapi'
import { labelSchema, nameSchema } from '../../http/schemas'

export const createOrgBody = z
  .strictObject({
    orgName: nameSchema,
    label: labelSchema.optional(),
    publicKey: z
      .string()
      .max(10_000)
      .regex(/^-----BEGIN [A-Z ]+-----[\s\S]+-----END [A-Z ]+-----\s*$/, 'must be a PEM block')
      .optional(),
    admin: z.strictObject({
      username: nameSchema,
      email: z.email().max(200),
      firstname: z.string().max(100).optional(),
      surname: z.string().max(100).optional(),
      title: z.string().max(100).optional(),
    }),
  })
  .openapi('CreateOrg')

export const orgSchema = z
  .object({
    orgName: z.string(),
    label: z.string().nullable(),
    publicKey: z.string().nullable(),
    state: z.string(),
    created: z.string(),
    updated: z.string(),
  })
  .openapi('Org')

/** The org as the API shows it. */
export function orgView(row: {
  name: string
  label: string | null
  publicKey: string | null
  state: string
  created: string
  updated: string
}) {
  return {
    orgName: row.name,
    label: row.label,
    publicKey: row.publicKey,
    state: row.state,
    created: row.created,
    updated: row.updated,
  }
}
