import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { basename } from 'node:path'
import { Readable } from 'node:stream'
import { parseArgs } from 'node:util'
import type { ApiClient } from '../api-client'
import { type Command, UsageError } from '../command'
import { createProgress, formatBytes, type Progress } from '../progress'
import { apiOptions, apiOptionsUsage, clientOf } from './api-options'
import { describeFailure, type TaskView, waitForTask } from './task-wait'

/** Options of {@link uploadBuild}. */
export interface UploadBuildOptions {
  /** The uncompressed tar of the build (see `rockit build pack`). */
  tar: string
  appName: string
  buildName?: string
  /** Wait for the `mkraw` task to end. Default true. */
  wait?: boolean
  /** How long to wait for `mkraw` (ms). Default 30 minutes. */
  timeoutMs?: number
  /** Bytes sent so far. */
  onProgress?: (sent: number, total: number) => void
  /** Where task states are told; false for nothing. Default stderr. */
  log?: ((line: string) => void) | false
}

/** An uploaded build: the record, its tasks, and the end of `mkraw` when waited for. */
export interface UploadedBuild {
  build: { buildId: number; buildName: string; [field: string]: unknown }
  /** The `dltar` task of the transfer. */
  uploadTaskName: string
  /** The `mkraw` task the upload started. */
  mkrawTaskName: string
  mkraw?: TaskView
  sizeBytes: number
  seconds: number
}

interface BuildCreated {
  build: UploadedBuild['build']
  taskName: string
  uploadUrl: string
  expires: string
}

/**
 * Uploads a build tar: asks for an upload URL (`POST /be/v1/builds` without `url`), PUTs the
 * tar there streamed from disk with its Content-Length, then follows the `mkraw` task it
 * started. A failed transfer ends the upload task so the app is not left waiting.
 *
 * @example const { mkraw } = await uploadBuild(client, { tar: 'game.tar', appName: 'game' })
 */
export async function uploadBuild(
  client: ApiClient,
  opts: UploadBuildOptions,
): Promise<UploadedBuild> {
  const info = await stat(opts.tar).catch(() => {
    throw new Error(`${opts.tar} does not exist: pack the game folder with rockit build pack`)
  })
  if (!info.isFile()) throw new Error(`${opts.tar} is not a file: give the build's tar`)

  const { body: created } = await client.call<BuildCreated>({
    method: 'POST',
    path: '/be/v1/builds',
    auth: 'user',
    json: { appName: opts.appName, ...(opts.buildName ? { buildName: opts.buildName } : {}) },
  })
  if (!created.uploadUrl) throw new Error('the service answered no uploadUrl for the build')

  let sent = 0
  const file = createReadStream(opts.tar, { highWaterMark: 1 << 20 })
  file.on('data', (chunk) => {
    sent += chunk.length
    opts.onProgress?.(sent, info.size)
  })
  const started = Date.now()
  let put: { taskName: string }
  try {
    const answer = await client.call<{ taskName: string }>({
      method: 'PUT',
      path: created.uploadUrl,
      auth: 'none',
      body: Readable.toWeb(file) as ReadableStream<Uint8Array>,
      headers: { 'content-type': 'application/x-tar', 'content-length': String(info.size) },
    })
    put = answer.body
  } catch (error) {
    file.destroy()
    await client
      .call({
        method: 'PATCH',
        path: '/be/v1/tasks',
        auth: 'user',
        json: { taskName: created.taskName, expire: true },
      })
      .catch(() => {})
    throw new Error(
      `uploading ${basename(opts.tar)} failed: ${(error as Error).message}; ` +
        `the upload task ${created.taskName} was ended: run the upload again`,
    )
  }
  const seconds = (Date.now() - started) / 1000

  const uploaded: UploadedBuild = {
    build: created.build,
    uploadTaskName: created.taskName,
    mkrawTaskName: put.taskName,
    sizeBytes: info.size,
    seconds,
  }
  if (opts.wait !== false) {
    uploaded.mkraw = await waitForTask(client, put.taskName, {
      timeoutMs: opts.timeoutMs,
      log: opts.log,
    })
  }
  return uploaded
}

/** What to do about a failed `mkraw`, from its exception. */
export function mkrawAdvice(task: TaskView): string {
  const exception = task.exception ?? {}
  if ('fileReadFailed' in exception || exception.code === 'fileReadFailed') {
    return (
      `${describeFailure(task)}. The upload is not an uncompressed tar: ` +
      'pack the folder with rockit build pack and upload that'
    )
  }
  return describeFailure(task)
}

const usage = `Usage: rockit build upload <tar> --app <app> [options]

Uploads a build (one uncompressed tar, see rockit build pack) to an app, then waits for the
service to turn it into its first image (the mkraw task) and prints how that ended.

Options:
  --app <name>          the app (required)
  --build-name <name>   default: build-0001 style
  --no-wait             return once the tar is uploaded
  --timeout <seconds>   how long to wait for mkraw (default 1800)
${apiOptionsUsage}`

/** `rockit build upload`. */
export const buildUpload: Command = {
  summary: 'upload a build tar and wait until the service has made its image',
  usage,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        ...apiOptions,
        app: { type: 'string' },
        'build-name': { type: 'string' },
        'no-wait': { type: 'boolean' },
        timeout: { type: 'string' },
      },
    })
    if (positionals.length !== 1) throw new UsageError('give exactly one tar to upload')
    if (!values.app) throw new UsageError('--app <name> is required')
    const timeoutSec = Number(values.timeout ?? 1800)
    if (!(timeoutSec > 0)) throw new UsageError('--timeout needs a number of seconds')

    const tar = positionals[0]
    let bar: Progress | undefined
    let barDone = false
    const client = clientOf(values)
    const uploaded = await uploadBuild(client, {
      tar,
      appName: values.app,
      buildName: values['build-name'],
      wait: false,
      onProgress(sent, size) {
        bar ??= createProgress({ label: `uploading ${basename(tar)}`, total: size })
        bar.update(sent)
        if (sent === size && !barDone) {
          barDone = true
          bar.finish()
        }
      },
    })
    if (!barDone) bar?.finish()

    const rate = formatBytes(Math.round(uploaded.sizeBytes / Math.max(uploaded.seconds, 0.001)))
    process.stderr.write(
      `rockit: build ${uploaded.build.buildName} of ${values.app}: ` +
        `${formatBytes(uploaded.sizeBytes)} uploaded in ${uploaded.seconds.toFixed(1)} s ` +
        `(${rate}/s)\n`,
    )
    if (values['no-wait']) {
      process.stderr.write(
        `rockit: the service makes its image in task ${uploaded.mkrawTaskName}\n`,
      )
      return 0
    }
    const mkraw = await waitForTask(client, uploaded.mkrawTaskName, {
      timeoutMs: timeoutSec * 1000,
    })
    if (mkraw.state !== 'succeeded') {
      process.stderr.write(`rockit: ${mkrawAdvice(mkraw)}\n`)
      return 1
    }
    process.stderr.write(`rockit: the build's image is made; it becomes the app's current build\n`)
    return 0
  },
}
