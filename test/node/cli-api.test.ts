/**
 * The API commands against a small fake of the service on loopback: what they send (headers,
 * streamed bodies), how they follow tasks, and what they tell the user when a call is refused.
 */
import fs from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { ApiCallError, ApiClient } from '../../cli/api-client'
import { parseTrainingSettings } from '../../cli/commands/app-create'
import { uploadBuild } from '../../cli/commands/build-upload'
import { uploadTrace } from '../../cli/commands/trace-upload'
import { main } from '../../cli/rockit'
import { tempDir } from './tar-fixtures'

interface Seen {
  method: string
  path: string
  headers: IncomingMessage['headers']
  bytes: number
  body: string
}

/** How the fake answers; each test sets what it needs. */
const fake = {
  seen: [] as Seen[],
  putStatus: 202,
  mkrawStates: [] as Array<{ state: string; progress: number; exception?: unknown }>,
  traceStatus: 202,
  /** Trace uploads answered 429 before the next is taken. */
  busyTraces: 0,
}
let server: Server
let base: string
let work: string

function reply(response: ServerResponse, status: number, body: unknown) {
  response.writeHead(status, { 'content-type': 'application/json' })
  response.end(JSON.stringify(body))
}

function answer(request: IncomingMessage, body: Buffer, response: ServerResponse) {
  const url = new URL(request.url ?? '/', base)
  fake.seen.push({
    method: request.method ?? '',
    path: url.pathname,
    headers: request.headers,
    bytes: body.length,
    body: body.length < 10_000 ? body.toString() : '',
  })
  const route = `${request.method} ${url.pathname}`
  if (request.headers['x-rockit-api-key'] === 'forbidden') {
    return reply(response, 403, {
      status: 'error',
      code: 'forbidden',
      message: 'missing permission apps.update',
      details: [{ permission: 'apps.update' }],
    })
  }
  if (route === 'POST /be/v1/builds') {
    return reply(response, 201, {
      status: 'success',
      message: 'build created',
      build: { buildId: 1, buildName: 'build-0001' },
      taskName: 'dltar_1',
      uploadUrl: `${base}/upload/secret`,
      expires: new Date(Date.now() + 3600_000).toISOString(),
    })
  }
  if (route === 'PUT /upload/secret') {
    if (fake.putStatus !== 202) {
      return reply(response, fake.putStatus, {
        status: 'error',
        code: 'tooLarge',
        message: 'the build is over the size limit',
      })
    }
    return reply(response, 202, {
      status: 'success',
      message: 'upload accepted',
      taskName: 'mkraw_1',
    })
  }
  if (route === 'GET /be/v1/tasks/mkraw_1') {
    const next = fake.mkrawStates.length > 1 ? fake.mkrawStates.shift()! : fake.mkrawStates[0]
    return reply(response, 200, {
      status: 'success',
      message: 'task',
      task: {
        taskName: 'mkraw_1',
        type: 'mkraw',
        appName: 'game',
        buildName: 'build-0001',
        attempts: 1,
        warnings: [],
        exception: null,
        ...next,
      },
    })
  }
  if (route === 'POST /be/v1/login') {
    return reply(response, 200, { status: 'success', message: 'ok', besessionToken: 'bs-1' })
  }
  if (route === 'POST /be/v1/auth') {
    return reply(response, 200, { status: 'success', message: 'ok', beauthToken: 'ba-1' })
  }
  if (route === 'POST /be/v1/users') {
    return reply(response, 201, { status: 'success', message: 'user created', password: 'p-1' })
  }
  if (route === 'PATCH /be/v1/tasks') {
    return reply(response, 200, { status: 'success', message: 'task modified' })
  }
  if (route === 'POST /client/v1/traces') {
    if (fake.busyTraces > 0) {
      fake.busyTraces--
      response.writeHead(429, { 'content-type': 'application/json', 'retry-after': '1' })
      return response.end(
        JSON.stringify({ status: 'error', code: 'tooManyRequests', message: 'slow down' }),
      )
    }
    if (fake.traceStatus === 422) {
      return reply(response, 422, {
        status: 'error',
        code: 'invalidTrace',
        message: 'line 3: unknown path "x.pak"',
        details: [{ line: 3, reason: 'unknown path "x.pak"' }],
      })
    }
    return reply(response, fake.traceStatus, { status: 'success', message: 'ok', traceId: 't-1' })
  }
  reply(response, 404, { status: 'error', code: 'notFound', message: `no ${route}` })
}

beforeAll(async () => {
  work = tempDir('cli-api')
  server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => answer(request, Buffer.concat(chunks), response))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve))
  fs.rmSync(work, { recursive: true, force: true })
})

beforeEach(() => {
  fake.seen = []
  fake.putStatus = 202
  fake.traceStatus = 202
  fake.busyTraces = 0
  fake.mkrawStates = [
    { state: 'running', progress: 0.5 },
    { state: 'succeeded', progress: 1 },
  ]
})

const publisher = () => new ApiClient({ url: base, org: 'acme', user: 'ci', apiKey: 'key-1' })

async function run(args: string[]) {
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
  try {
    const code = await main(args)
    return {
      code,
      out: stdout.mock.calls.map((call) => String(call[0])).join(''),
      err: stderr.mock.calls.map((call) => String(call[0])).join(''),
    }
  } finally {
    stdout.mockRestore()
    stderr.mockRestore()
  }
}

describe('build upload', () => {
  it('PUTs the tar with its length to the upload URL and follows mkraw to its end', async () => {
    const tar = path.join(work, 'game.tar')
    fs.writeFileSync(tar, Buffer.alloc(3 * 1024 * 1024 + 17, 7))
    const progress: number[] = []
    const uploaded = await uploadBuild(publisher(), {
      tar,
      appName: 'game',
      log: false,
      onProgress: (sent) => progress.push(sent),
    })

    const create = fake.seen.find((s) => s.path === '/be/v1/builds')!
    expect(JSON.parse(create.body)).toEqual({ appName: 'game' })
    expect(create.headers['x-rockit-api-key']).toBe('key-1')
    const put = fake.seen.find((s) => s.method === 'PUT')!
    expect(put.headers['content-length']).toBe(String(3 * 1024 * 1024 + 17))
    expect(put.headers['content-type']).toBe('application/x-tar')
    // The URL is the credential: no API key goes with the tar.
    expect(put.headers['x-rockit-api-key']).toBeUndefined()
    expect(put.bytes).toBe(3 * 1024 * 1024 + 17)
    expect(progress.at(-1)).toBe(3 * 1024 * 1024 + 17)
    expect(uploaded.mkrawTaskName).toBe('mkraw_1')
    expect(uploaded.mkraw?.state).toBe('succeeded')
  })

  it('ends the upload task when the PUT is refused and says to upload again', async () => {
    fake.putStatus = 413
    const tar = path.join(work, 'big.tar')
    fs.writeFileSync(tar, Buffer.alloc(1000))
    await expect(uploadBuild(publisher(), { tar, appName: 'game', log: false })).rejects.toThrow(
      /413 tooLarge: the build is over the size limit.*run the upload again/,
    )
    const expire = fake.seen.find((s) => s.method === 'PATCH' && s.path === '/be/v1/tasks')!
    expect(JSON.parse(expire.body)).toEqual({ taskName: 'dltar_1', expire: true })
  })

  it('exits 1 with advice when mkraw finds no tar', async () => {
    fake.mkrawStates = [
      {
        state: 'failed',
        progress: 0,
        exception: {
          fileReadFailed: { filename: 'x.tar', typeExpected: 'tar', typeDetected: 'gzip' },
        },
      },
    ]
    const tar = path.join(work, 'not-a-tar.tar')
    fs.writeFileSync(tar, gzipSync('hello'))
    const creds = ['--url', base, '--org', 'acme', '--user', 'ci', '--api-key', 'k']
    const { code, err } = await run(['build', 'upload', tar, '--app', 'game', ...creds])
    expect(code).toBe(1)
    expect(err).toContain('mkraw task mkraw_1 failed')
    expect(err).toContain('pack the folder with rockit build pack')
  })

  it('names the missing permission on a 403', async () => {
    const tar = path.join(work, 'game.tar')
    const creds = ['--url', base, '--org', 'acme', '--user', 'ci', '--api-key', 'forbidden']
    const { code, err } = await run(['build', 'upload', tar, '--app', 'game', ...creds])
    expect(code).toBe(1)
    expect(err).toContain('403 forbidden: missing permission apps.update')
    expect(err).toContain('the user lacks apps.update')
  })

  it('says which credential is missing before calling', async () => {
    const tar = path.join(work, 'game.tar')
    const env = { ...process.env }
    delete process.env.ROCKIT_API_KEY
    try {
      const { code, err } = await run([
        'build',
        'upload',
        tar,
        '--app',
        'game',
        '--url',
        base,
        '--org',
        'a',
        '--user',
        'b',
      ])
      expect(code).toBe(1)
      expect(err).toContain('no API key: pass --api-key or set ROCKIT_API_KEY')
      expect(fake.seen).toHaveLength(0)
    } finally {
      process.env = env
    }
  })
})

describe('trace upload', () => {
  const traceText = '{"format":"rockit-trace/1","sessionId":"s1","durationMs":5}\n[0,"a.pak",0,1]\n'

  it('sends trace-key headers, NDJSON, and marks gzip files', async () => {
    const plain = path.join(work, 't.ndjson')
    const gz = path.join(work, 't.ndjson.gz')
    fs.writeFileSync(plain, traceText)
    fs.writeFileSync(gz, gzipSync(traceText))
    const launcher = new ApiClient({ url: base, org: 'acme', traceKey: 'tk' })

    expect(await uploadTrace(launcher, 'game', plain)).toEqual({ traceId: 't-1', duplicate: false })
    fake.traceStatus = 200
    expect(await uploadTrace(launcher, 'game', gz)).toEqual({ traceId: 't-1', duplicate: true })

    const [first, second] = fake.seen
    expect(first.headers['x-rockit-orgname']).toBe('acme')
    expect(first.headers['x-rockit-appname']).toBe('game')
    expect(first.headers['x-rockit-trace-key']).toBe('tk')
    expect(first.headers['content-type']).toBe('application/x-ndjson')
    expect(first.headers['content-encoding']).toBeUndefined()
    expect(first.body).toBe(traceText)
    expect(second.headers['content-encoding']).toBe('gzip')
    expect(second.bytes).toBe(fs.statSync(gz).size)
  })

  it('waits as Retry-After says when the app is over its upload rate, then uploads', async () => {
    const file = path.join(work, 'busy.ndjson')
    fs.writeFileSync(file, traceText)
    fake.busyTraces = 2
    const launcher = new ApiClient({ url: base, org: 'acme', traceKey: 'tk' })
    const started = Date.now()
    expect(await uploadTrace(launcher, 'game', file)).toEqual({ traceId: 't-1', duplicate: false })
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900)
    const uploads = fake.seen.filter((seen) => seen.path === '/client/v1/traces')
    expect(uploads).toHaveLength(3)
    expect(uploads.every((seen) => seen.body === traceText)).toBe(true)
  })

  it('shows the line the service refused and goes on with the next file', async () => {
    const file = path.join(work, 'bad.ndjson')
    fs.writeFileSync(file, traceText)
    fake.traceStatus = 422
    const creds = ['--url', base, '--org', 'acme', '--trace-key', 'tk']
    const { code, err } = await run(['trace', 'upload', file, file, '--app', 'game', ...creds])
    expect(code).toBe(1)
    expect(err).toContain('[1/2]')
    expect(err).toContain('[2/2]')
    expect(err).toContain('422 invalidTrace: line 3: unknown path "x.pak"')
    expect(err).toContain('2 of 2 traces were not accepted')
  })
})

describe('user create', () => {
  const human = ['--email', 'a@example.com', '--firstname', 'Ada', '--surname', 'L']

  it('logs in with --password even when ROCKIT_API_KEY is set for someone else', async () => {
    vi.stubEnv('ROCKIT_API_KEY', 'someone-elses-key')
    try {
      const creds = ['--url', base, '--org', 'acme', '--user', 'owner', '--password', 'pw']
      const { code, err } = await run(['user', 'create', 'ada', ...human, ...creds])
      expect(code, err).toBe(0)
    } finally {
      vi.unstubAllEnvs()
    }
    const create = fake.seen.find((seen) => seen.path === '/be/v1/users')!
    expect(create.headers['x-rockit-beauth-token']).toBe('ba-1')
    expect(create.headers['x-rockit-api-key']).toBeUndefined()
    expect(JSON.parse(fake.seen.find((seen) => seen.path === '/be/v1/login')!.body)).toEqual({
      orgName: 'acme',
      username: 'owner',
      password: 'pw',
    })
  })

  it('refuses --password together with --api-key', async () => {
    const creds = ['--url', base, '--org', 'acme', '--user', 'owner']
    const both = ['--password', 'pw', '--api-key', 'k']
    const { code, err } = await run(['user', 'create', 'ada', ...human, ...creds, ...both])
    expect(code).toBe(2)
    expect(err).toContain('not both')
    expect(fake.seen).toHaveLength(0)
  })
})

describe('setup helpers', () => {
  it('reads training settings given as name=value', () => {
    expect(parseTrainingSettings(['nTracesReliable=6,minCoverage=0', 'uploadTrace=false'])).toEqual(
      {
        nTracesReliable: 6,
        minCoverage: 0,
        uploadTrace: false,
      },
    )
    expect(parseTrainingSettings([])).toBeUndefined()
    expect(() => parseTrainingSettings(['speed=3'])).toThrow(/name=value/)
    expect(() => parseTrainingSettings(['minCoverage=lots'])).toThrow(/needs a number/)
  })

  it('refuses a deployment without the flags its type needs', async () => {
    const { code, err } = await run([
      'deployment',
      'create',
      'cdn',
      '--type',
      's3',
      '--bucket',
      'b',
    ])
    expect(code).toBe(2)
    expect(err).toContain(
      '--type s3 needs --endpoint, --region, --access-key-id, --secret-access-key',
    )
  })

  it('keeps ApiCallError facts for scripts', async () => {
    const error = await publisher()
      .call({ method: 'GET', path: '/be/v1/nothing', auth: 'user' })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ApiCallError)
    expect((error as ApiCallError).status).toBe(404)
    expect((error as ApiCallError).code).toBe('notFound')
  })
})
