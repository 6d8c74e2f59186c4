import { parseArgs } from 'node:util'
import type { ApiClient } from '../api-client'
import { type Command, UsageError } from '../command'
import { apiOptions, apiOptionsUsage, clientOf } from './api-options'
import { printAnswer } from './output'

/** What `POST /adm/v1/orgs` takes. */
export interface OrgCreateInput {
  orgName: string
  label?: string
  admin: { username: string; email: string; firstname?: string; surname?: string }
}

/** What creating an org answers: the org and its primary admin's initial password. */
export interface OrgCreated {
  org: Record<string, unknown>
  password: string
}

/**
 * Creates an org and its primary admin with the admin token (`POST /adm/v1/orgs`).
 *
 * @example const { password } = await createOrg(client, { orgName: 'acme', admin })
 */
export async function createOrg(client: ApiClient, input: OrgCreateInput): Promise<OrgCreated> {
  const { body } = await client.call<OrgCreated>({
    method: 'POST',
    path: '/adm/v1/orgs',
    auth: 'admin',
    json: input,
  })
  return body
}

const usage = `Usage: rockit org create <orgName> --admin <username> --email <email> [options]

Creates an org with its Administrators role and its primary admin (Admin API, needs an admin
token). Prints the admin's initial password, shown only this once.

Options:
  --admin <username>    the primary admin (required)
  --email <email>       the admin's email (required)
  --label <text>        a label for the org
  --json                print the API's answer as JSON
${apiOptionsUsage}`

/** `rockit org create`. */
export const orgCreate: Command = {
  summary: 'create an org and its primary admin (admin token)',
  usage,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        ...apiOptions,
        admin: { type: 'string' },
        email: { type: 'string' },
        label: { type: 'string' },
        json: { type: 'boolean' },
      },
    })
    if (positionals.length !== 1) throw new UsageError('give exactly one org name')
    if (!values.admin || !values.email) throw new UsageError('--admin and --email are required')

    const orgName = positionals[0]
    const created = await createOrg(clientOf(values), {
      orgName,
      label: values.label,
      admin: { username: values.admin, email: values.email },
    })
    printAnswer(values.json, created as unknown as Record<string, unknown>, [
      `org ${orgName} created; primary admin ${values.admin}`,
      `initial password (shown once): ${created.password}`,
    ])
    return 0
  },
}
