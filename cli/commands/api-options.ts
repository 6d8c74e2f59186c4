/**
 * The options every command that talks to the service shares: where it is and who calls, each
 * with its `ROCKIT_*` environment variable as the fallback.
 */
import { ApiClient, type ApiCredentials, resolveCredentials } from '../api-client'

/** `parseArgs` options for the service address and credentials. */
export const apiOptions = {
  url: { type: 'string' },
  org: { type: 'string' },
  user: { type: 'string' },
  'api-key': { type: 'string' },
  'admin-token': { type: 'string' },
  'trace-key': { type: 'string' },
} as const

/** The values `parseArgs` gives for {@link apiOptions}. */
export interface ApiOptionValues {
  url?: string
  org?: string
  user?: string
  'api-key'?: string
  'admin-token'?: string
  'trace-key'?: string
}

/** Help text of {@link apiOptions}, for a command's usage. */
export const apiOptionsUsage = `Service and credentials (flags win over the environment):
  --url <url>             ROCKIT_URL (default http://127.0.0.1:8787)
  --org <name>            ROCKIT_ORG
  --user <name>           ROCKIT_USER
  --api-key <key>         ROCKIT_API_KEY
  --admin-token <token>   ROCKIT_ADMIN_TOKEN
  --trace-key <key>       ROCKIT_TRACE_KEY`

/** The credentials the flags and the environment give. */
export function credentialsOf(values: ApiOptionValues): ApiCredentials {
  return resolveCredentials({
    url: values.url,
    org: values.org,
    user: values.user,
    apiKey: values['api-key'],
    adminToken: values['admin-token'],
    traceKey: values['trace-key'],
  })
}

/** A client for the flags and the environment. */
export function clientOf(values: ApiOptionValues): ApiClient {
  return new ApiClient(credentialsOf(values))
}
