import { parseArgs } from 'node:util'
import type { ApiClient } from '../api-client'
import { type Command, UsageError } from '../command'
import { apiOptions, apiOptionsUsage, clientOf } from './api-options'
import { printAnswer } from './output'

/** A deployment's origin (API.md, Deployments). */
export type OriginInput =
  | { type: 'r2'; bucket?: string }
  | {
      type: 's3'
      endpoint: string
      region: string
      bucket: string
      accessKeyId: string
      secretAccessKey: string
    }
  | { type: 'netstorage'; host: string; keyName: string; key: string; cpCode: string }

/** What `POST /be/v1/deployments` takes. */
export interface DeploymentCreateInput {
  name: string
  label?: string
  originPrefix: string
  origin: OriginInput
}

/**
 * Creates a deployment (a CDN origin) of the caller's org (`POST /be/v1/deployments`).
 *
 * @example
 * await createDeployment(client, { name: 'local', originPrefix: 'cdn', origin: { type: 'r2' } })
 */
export async function createDeployment(
  client: ApiClient,
  input: DeploymentCreateInput,
): Promise<Record<string, unknown>> {
  const { body } = await client.call<Record<string, unknown>>({
    method: 'POST',
    path: '/be/v1/deployments',
    auth: 'user',
    json: input,
  })
  return body
}

const usage = `Usage: rockit deployment create <name> --type r2|s3|netstorage [options]

Creates a deployment: an origin the org's apps publish their images to.

Options:
  --type <type>              r2 (the instance's own bucket), s3 or netstorage (required)
  --origin-prefix <prefix>   folder of everything published there (default rockit)
  --label <text>
  r2:          --bucket <name> (default: the instance's bucket)
  s3:          --endpoint <host or URL> --region <r> --bucket <b> --access-key-id <id>
               --secret-access-key <secret>
  netstorage:  --host <h> --key-name <n> --key <k> --cp-code <c>
  --json                     print the API's answer as JSON
${apiOptionsUsage}`

const originFlags = {
  bucket: { type: 'string' },
  endpoint: { type: 'string' },
  region: { type: 'string' },
  'access-key-id': { type: 'string' },
  'secret-access-key': { type: 'string' },
  host: { type: 'string' },
  'key-name': { type: 'string' },
  key: { type: 'string' },
  'cp-code': { type: 'string' },
} as const

/** The origin the flags describe; names the missing flags when some are needed. */
function originOf(type: string | undefined, values: Record<string, unknown>): OriginInput {
  const need = (names: string[]) => {
    const missing = names.filter((name) => typeof values[name] !== 'string')
    if (missing.length) {
      throw new UsageError(`--type ${type} needs ${missing.map((n) => `--${n}`).join(', ')}`)
    }
    return (name: string) => values[name] as string
  }
  if (type === 'r2') return { type, bucket: values.bucket as string | undefined }
  if (type === 's3') {
    const get = need(['endpoint', 'region', 'bucket', 'access-key-id', 'secret-access-key'])
    return {
      type,
      endpoint: get('endpoint'),
      region: get('region'),
      bucket: get('bucket'),
      accessKeyId: get('access-key-id'),
      secretAccessKey: get('secret-access-key'),
    }
  }
  if (type === 'netstorage') {
    const get = need(['host', 'key-name', 'key', 'cp-code'])
    return {
      type,
      host: get('host'),
      keyName: get('key-name'),
      key: get('key'),
      cpCode: get('cp-code'),
    }
  }
  throw new UsageError('--type must be r2, s3 or netstorage')
}

/** `rockit deployment create`. */
export const deploymentCreate: Command = {
  summary: 'create a deployment (an origin images are published to)',
  usage,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        ...apiOptions,
        ...originFlags,
        type: { type: 'string' },
        'origin-prefix': { type: 'string' },
        label: { type: 'string' },
        json: { type: 'boolean' },
      },
    })
    if (positionals.length !== 1) throw new UsageError('give exactly one deployment name')
    const name = positionals[0]
    const created = await createDeployment(clientOf(values), {
      name,
      label: values.label,
      originPrefix: values['origin-prefix'] ?? 'rockit',
      origin: originOf(values.type, values),
    })
    printAnswer(values.json, created, [`deployment ${name} created (${values.type})`])
    return 0
  },
}
