import { createReadStream } from 'node:fs'
import { open, stat } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { parseArgs } from 'node:util'
import { ApiCallError, type ApiClient } from '../api-client'
import { type Command, UsageError } from '../command'
import { apiOptions, apiOptionsUsage, clientOf } from './api-options'

/** An accepted trace: its id, and whether the service had it already (same sessionId). */
export interface UploadedTrace {
  traceId: string
  duplicate: boolean
}

/** Whether a file starts with the gzip magic bytes. */
async function isGzip(file: string): Promise<boolean> {
  const handle = await open(file, 'r')
  try {
    const head = Buffer.alloc(2)
    const { bytesRead } = await handle.read(head, 0, 2, 0)
    return bytesRead === 2 && head[0] === 0x1f && head[1] === 0x8b
  } finally {
    await handle.close()
  }
}

/**
 * Uploads one trace file (`rockit-trace/1` NDJSON, plain or gzip) with the app's trace key
 * (`POST /client/v1/traces`), streamed from disk.
 *
 * @example const { traceId } = await uploadTrace(client, 'game', 'trace-1.ndjson.gz')
 */
export async function uploadTrace(
  client: ApiClient,
  appName: string,
  file: string,
): Promise<UploadedTrace> {
  const info = await stat(file).catch(() => {
    throw new Error(`${file} does not exist`)
  })
  const headers: Record<string, string> = {
    'content-type': 'application/x-ndjson',
    'content-length': String(info.size),
  }
  if (await isGzip(file)) headers['content-encoding'] = 'gzip'
  for (let attempt = 1; ; attempt++) {
    try {
      const { status, body } = await client.call<{ traceId: string }>({
        method: 'POST',
        path: '/client/v1/traces',
        auth: 'trace',
        app: appName,
        headers,
        body: Readable.toWeb(createReadStream(file)) as ReadableStream<Uint8Array>,
      })
      return { traceId: body.traceId, duplicate: status === 200 }
    } catch (error) {
      // Over the app's upload rate: wait as the service says, as a launcher does.
      const busy = error instanceof ApiCallError && error.status === 429
      if (!busy || attempt >= RATE_LIMIT_ATTEMPTS) throw error
      await sleep(1000 * Math.min(30, Math.max(1, error.retryAfter ?? 1)))
    }
  }
}

/** Tries of one upload the service refuses with 429 before giving up. */
const RATE_LIMIT_ATTEMPTS = 8

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms))

const usage = `Usage: rockit trace upload <file...> --app <app> [options]

Uploads trace files (rockit-trace/1, as rockit trace record writes them; gzip or plain) with
the app's trace key, as a launcher does. A trace whose session was uploaded before is
accepted again without counting twice.

Options:
  --app <name>   the app (required); --org and --trace-key (or ROCKIT_ORG, ROCKIT_TRACE_KEY)
                 name its org and key
${apiOptionsUsage}`

/** `rockit trace upload`. */
export const traceUpload: Command = {
  summary: "upload trace files with the app's trace key",
  usage,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { ...apiOptions, app: { type: 'string' } },
    })
    if (positionals.length === 0) throw new UsageError('give at least one trace file')
    if (!values.app) throw new UsageError('--app <name> is required')

    const client = clientOf(values)
    let failed = 0
    for (const [i, file] of positionals.entries()) {
      const counter = `[${i + 1}/${positionals.length}]`
      try {
        const { traceId, duplicate } = await uploadTrace(client, values.app, file)
        const what = duplicate ? 'uploaded before' : 'accepted'
        process.stderr.write(`rockit: ${counter} ${file}: ${what} (trace ${traceId})\n`)
      } catch (error) {
        failed++
        process.stderr.write(`rockit: ${counter} ${file}: ${(error as Error).message}\n`)
        // Every trace would meet the same bad credential: stop at the first.
        if ((error as { status?: number }).status === 401) break
      }
    }
    if (failed > 0) {
      process.stderr.write(`rockit: ${failed} of ${positionals.length} traces were not accepted\n`)
      return 1
    }
    return 0
  },
}
