/**
 * A small client of the rockit-edge HTTP API for the CLI: it adds the right credential headers,
 * reads the JSON envelope, and turns every error into one message that says what went wrong
 * and what to do about it.
 */

/** Where the service is and who calls it. Flags win over the `ROCKIT_*` environment. */
export interface ApiCredentials {
  /** Base URL of the service. Default `ROCKIT_URL`, else `http://127.0.0.1:8787`. */
  url: string
  org?: string
  user?: string
  apiKey?: string
  adminToken?: string
  traceKey?: string
  /** A human user's auth token (from {@link login}); used when there is no API key. */
  beauthToken?: string
}

/** Which credential a call sends: none, the admin token, a user's API key, or a trace key. */
export type AuthKind = 'none' | 'admin' | 'user' | 'trace'

/** One call of {@link ApiClient.call}. */
export interface ApiCall {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD'
  /** A path on the service (`/be/v1/apps`) or an absolute URL the service handed out. */
  path: string
  auth: AuthKind
  /** The app a trace key belongs to (sent as `x-rockit-appname`). */
  app?: string
  /** Sent as JSON. */
  json?: unknown
  /** Sent as is (a stream needs a `content-length` header). */
  body?: ReadableStream<Uint8Array> | Uint8Array | string
  headers?: Record<string, string>
}

/** A decoded answer: the status and the JSON body (`undefined` when there is none). */
export interface ApiAnswer<T> {
  status: number
  body: T
  headers: Headers
}

/** The error envelope of the API. */
interface ErrorEnvelope {
  status: 'error'
  code?: string
  message?: string
  details?: unknown[]
}

/** A call the service refused or that never reached it; `message` says what to do. */
export class ApiCallError extends Error {
  override name = 'ApiCallError'
  /** HTTP status; 0 when the service could not be reached. */
  status: number
  /** The envelope's machine code (`unauthenticated`, `invalidParam`, ...). */
  code?: string
  details?: unknown[]
  /** The raw answer body, for reports. */
  body?: string
  /** Seconds the service asked to wait (`Retry-After`), when it said. */
  retryAfter?: number

  constructor(message: string, status: number, extra: Partial<ApiCallError> = {}) {
    super(message)
    this.status = status
    Object.assign(this, extra)
  }
}

/** The default service address: the local instance of `npm start`. */
export const DEFAULT_URL = 'http://127.0.0.1:8787'

/**
 * Credentials from flags, then the environment (`ROCKIT_URL`, `ROCKIT_ORG`, `ROCKIT_USER`,
 * `ROCKIT_API_KEY`, `ROCKIT_ADMIN_TOKEN`, `ROCKIT_TRACE_KEY`).
 */
export function resolveCredentials(
  flags: Partial<Record<keyof ApiCredentials, string | undefined>>,
  env: NodeJS.ProcessEnv = process.env,
): ApiCredentials {
  const url = flags.url ?? env.ROCKIT_URL ?? DEFAULT_URL
  return {
    url: url.replace(/\/+$/, ''),
    org: flags.org ?? env.ROCKIT_ORG,
    user: flags.user ?? env.ROCKIT_USER,
    apiKey: flags.apiKey ?? env.ROCKIT_API_KEY,
    adminToken: flags.adminToken ?? env.ROCKIT_ADMIN_TOKEN,
    traceKey: flags.traceKey ?? env.ROCKIT_TRACE_KEY,
  }
}

const credentialHints: Record<AuthKind, string> = {
  none: 'check the org, user and password',
  admin: 'check ROCKIT_ADMIN_TOKEN (mint one with: rockit admin-token <your-name>)',
  user: 'check ROCKIT_ORG, ROCKIT_USER and ROCKIT_API_KEY (or --org, --user, --api-key)',
  trace: 'check ROCKIT_TRACE_KEY (or --trace-key): the app answer of "rockit app create" shows it',
}

/** What to do after a refusal, by status. */
function hintFor(status: number, auth: AuthKind, envelope: ErrorEnvelope | undefined): string {
  if (status === 401) return credentialHints[auth]
  if (status === 403) {
    const permission = envelope?.details
      ?.map((detail) => (detail as { permission?: string }).permission)
      .find(Boolean)
    return `the user lacks ${permission ?? 'a permission'}: give it a role that grants it`
  }
  if (status === 429) return 'too many requests: wait and try again'
  if (status === 503) return 'the service is in maintenance: try again later'
  if (status === 410) return 'the upload URL is used up or expired: start the upload again'
  if (status >= 500) return 'the service failed: see its log (npm start output)'
  return ''
}

/** `details` of an error envelope as short text (`name: why`, `line 3: why`). */
function describeDetails(details: unknown[] | undefined): string {
  if (!details?.length) return ''
  const parts = details.slice(0, 5).map((detail) => {
    if (typeof detail !== 'object' || detail === null) return String(detail)
    const record = detail as Record<string, unknown>
    const where = record.field ?? record.path ?? (record.line ? `line ${record.line}` : undefined)
    const why = record.reason ?? record.message ?? record.issue
    if (where !== undefined && why !== undefined) return `${where}: ${why}`
    return JSON.stringify(detail)
  })
  return parts.join('; ')
}

/**
 * Calls the rockit-edge API.
 *
 * @example
 * const api = new ApiClient(resolveCredentials({}))
 * const { body } = await api.call({ method: 'GET', path: '/be/v1/apps/game', auth: 'user' })
 */
export class ApiClient {
  constructor(readonly credentials: ApiCredentials) {}

  /** The absolute URL of a service path (absolute URLs pass through). */
  urlOf(path: string): string {
    return /^https?:\/\//.test(path) ? path : `${this.credentials.url}${path}`
  }

  /** The credential headers of a kind; throws when the needed values are missing. */
  authHeaders(auth: AuthKind, app?: string): Record<string, string> {
    const { org, user, apiKey, adminToken, traceKey, beauthToken } = this.credentials
    const missing = (what: string, flag: string, env: string) =>
      new ApiCallError(`no ${what}: pass ${flag} or set ${env}`, 0)
    if (auth === 'admin') {
      if (!adminToken) throw missing('admin token', '--admin-token', 'ROCKIT_ADMIN_TOKEN')
      return { 'x-rockit-admin-token': adminToken }
    }
    if (auth === 'user') {
      if (!apiKey && beauthToken) return { 'x-rockit-beauth-token': beauthToken }
      if (!org) throw missing('org', '--org', 'ROCKIT_ORG')
      if (!user) throw missing('user', '--user', 'ROCKIT_USER')
      if (!apiKey) throw missing('API key', '--api-key', 'ROCKIT_API_KEY')
      return { 'x-rockit-orgname': org, 'x-rockit-username': user, 'x-rockit-api-key': apiKey }
    }
    if (auth === 'trace') {
      if (!org) throw missing('org', '--org', 'ROCKIT_ORG')
      if (!app) throw new ApiCallError('no app: pass --app', 0)
      if (!traceKey) throw missing('trace key', '--trace-key', 'ROCKIT_TRACE_KEY')
      return { 'x-rockit-orgname': org, 'x-rockit-appname': app, 'x-rockit-trace-key': traceKey }
    }
    return {}
  }

  /** Sends a call and answers the raw response; refusals and network errors throw. */
  async send(call: ApiCall): Promise<Response> {
    const headers: Record<string, string> = {
      ...this.authHeaders(call.auth, call.app),
      ...call.headers,
    }
    let body: BodyInit | undefined = call.body as BodyInit | undefined
    if (call.json !== undefined) {
      headers['content-type'] = 'application/json'
      body = JSON.stringify(call.json)
    }
    const url = this.urlOf(call.path)
    const where = `${call.method} ${new URL(url).pathname}`
    let response: Response
    try {
      response = await fetch(url, {
        method: call.method,
        headers,
        body,
        ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
      } as RequestInit)
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause
      const why = cause?.code ?? cause?.message ?? (error as Error).message
      throw new ApiCallError(
        `${where}: cannot reach the service at ${new URL(url).origin} (${why}): ` +
          'is it running? Start it with npm start, or set ROCKIT_URL',
        0,
      )
    }
    if (!response.ok) throw await refusal(response, where, call.auth)
    return response
  }

  /** Sends a call and decodes its JSON answer. */
  async call<T = Record<string, unknown>>(call: ApiCall): Promise<ApiAnswer<T>> {
    const response = await this.send(call)
    const text = await response.text()
    let body: T
    try {
      body = (text === '' ? undefined : JSON.parse(text)) as T
    } catch {
      throw new ApiCallError(
        `${call.method} ${call.path}: the answer is not JSON (${text.slice(0, 80)})`,
        response.status,
      )
    }
    return { status: response.status, body, headers: response.headers }
  }
}

/** Builds the error of a refused call from its envelope. */
async function refusal(response: Response, where: string, auth: AuthKind): Promise<ApiCallError> {
  const text = await response.text().catch(() => '')
  let envelope: ErrorEnvelope | undefined
  try {
    envelope = JSON.parse(text) as ErrorEnvelope
  } catch {
    envelope = undefined
  }
  const code = envelope?.code
  const message = envelope?.message ?? (text.slice(0, 200) || response.statusText)
  const details = describeDetails(envelope?.details)
  const hint = hintFor(response.status, auth, envelope)
  const retry = response.headers.get('retry-after')
  const parts = [`${where}: ${response.status}${code ? ` ${code}` : ''}: ${message}`]
  if (details && !message.includes(details)) parts.push(`(${details})`)
  if (hint) parts.push(`-> ${hint}${retry ? ` (Retry-After ${retry} s)` : ''}`)
  const seconds = Number(retry)
  return new ApiCallError(parts.join(' '), response.status, {
    code,
    details: envelope?.details,
    body: text,
    ...(retry !== null && Number.isFinite(seconds) && seconds >= 0 ? { retryAfter: seconds } : {}),
  })
}

/**
 * Logs a human user in with a password (`POST /be/v1/login`, then `POST /be/v1/auth`) and
 * answers a client that calls as that user with the auth token (valid 5 minutes).
 *
 * @example const admin = await login(new ApiClient(creds), 'initial-password')
 */
export async function login(client: ApiClient, password: string): Promise<ApiClient> {
  const { org, user } = client.credentials
  if (!org || !user) throw new ApiCallError('logging in needs --org and --user', 0)
  const session = await client.call<{ besessionToken: string }>({
    method: 'POST',
    path: '/be/v1/login',
    auth: 'none',
    json: { orgName: org, username: user, password },
  })
  const auth = await client.call<{ beauthToken: string }>({
    method: 'POST',
    path: '/be/v1/auth',
    auth: 'none',
    headers: { 'x-rockit-besession-token': session.body.besessionToken },
  })
  return new ApiClient({
    ...client.credentials,
    apiKey: undefined,
    beauthToken: auth.body.beauthToken,
  })
}
