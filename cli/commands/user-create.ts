import { parseArgs } from 'node:util'
import { type ApiClient, login } from '../api-client'
import { type Command, UsageError } from '../command'
import { apiOptions, apiOptionsUsage, clientOf } from './api-options'
import { nameList, printAnswer } from './output'

/** What `POST /be/v1/users` takes: a machine user (label) or a human one (email, names). */
export type UserCreateInput =
  | { username: string; machine: true; label: string; roles: string[] }
  | {
      username: string
      machine: false
      email: string
      firstname: string
      surname: string
      title?: string
      roles: string[]
    }

/** A created user with its one-time secret: `apiKey` (machine) or `password` (human). */
export interface UserCreated {
  user: Record<string, unknown>
  apiKey?: string
  password?: string
}

/**
 * Creates a user of the caller's org (`POST /be/v1/users`, needs `beUsers` C).
 *
 * @example
 * const { apiKey } = await createUser(admin, { username: 'ci', machine: true, label: 'CI', roles })
 */
export async function createUser(client: ApiClient, input: UserCreateInput): Promise<UserCreated> {
  const { body } = await client.call<UserCreated>({
    method: 'POST',
    path: '/be/v1/users',
    auth: 'user',
    json: input,
  })
  return body
}

const usage = `Usage: rockit user create <username> --machine [--label <text>] [--roles <a,b>]
       rockit user create <username> --email <e> --firstname <f> --surname <s> [--roles <a,b>]

Creates a user in the caller's org. A machine user gets an API key, a human user an initial
password; either is shown only this once. The caller authenticates with an API key, or with
a password (--password or ROCKIT_PASSWORD: logs the user in first, e.g. the org's admin).

Options:
  --machine             a machine user (API key)
  --label <text>        label of a machine user (default: the username)
  --email, --firstname, --surname, --title   of a human user
  --roles <a,b>         roles to hold (default Administrators)
  --password <pw>       the caller's password instead of an API key (ROCKIT_PASSWORD)
  --json                print the API's answer as JSON
${apiOptionsUsage}`

/** `rockit user create`. */
export const userCreate: Command = {
  summary: 'create a machine user (API key) or a human user (password)',
  usage,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        ...apiOptions,
        machine: { type: 'boolean' },
        label: { type: 'string' },
        email: { type: 'string' },
        firstname: { type: 'string' },
        surname: { type: 'string' },
        title: { type: 'string' },
        roles: { type: 'string' },
        password: { type: 'string' },
        json: { type: 'boolean' },
      },
    })
    if (positionals.length !== 1) throw new UsageError('give exactly one username')
    const username = positionals[0]
    const roles = nameList(values.roles) ?? ['Administrators']
    let input: UserCreateInput
    if (values.machine) {
      input = { username, machine: true, label: values.label ?? username, roles }
    } else {
      const { email, firstname, surname } = values
      if (!email || !firstname || !surname) {
        throw new UsageError('a human user needs --email, --firstname and --surname (or --machine)')
      }
      input = { username, machine: false, email, firstname, surname, title: values.title, roles }
    }

    if (values.password && values['api-key']) {
      throw new UsageError('give --password or --api-key, not both')
    }
    let client = clientOf(values)
    // A --password given here wins over an API key from the environment (ROCKIT_API_KEY),
    // which may be another user's; ROCKIT_PASSWORD is used only without any API key.
    const password = values.password ?? process.env.ROCKIT_PASSWORD
    if (values.password || (password && !client.credentials.apiKey)) {
      client = await login(client, password as string)
    }
    const created = await createUser(client, input)
    const secret = created.apiKey
      ? `API key (shown once): ${created.apiKey}`
      : `initial password (shown once): ${created.password}`
    printAnswer(values.json, created as unknown as Record<string, unknown>, [
      `user ${username} created${values.machine ? ' (machine)' : ''}, roles ${roles.join(', ')}`,
      secret,
    ])
    return 0
  },
}
