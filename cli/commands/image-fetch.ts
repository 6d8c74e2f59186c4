import { basename } from 'node:path'
import { parseArgs } from 'node:util'
import type { ApiClient } from '../api-client'
import { type Command, UsageError } from '../command'
import { createProgress, formatBytes, type Progress } from '../progress'
import { apiOptions, apiOptionsUsage, clientOf } from './api-options'
import { openImageSource } from './image-source'
import { type StreamedImage, streamImage } from './image-stream'
import { type VerifyReport, verifyRebuild } from './image-verify'

/** What `GET /client/v1/apps/{orgName}/{appName}` answers a launcher. */
export interface LaunchInfo {
  iCurBuild: number
  buildName: string
  dxfName: string
  image: { url: string; sizeBytes: number; sha256: string | null }
  profile: { url: string }
  origins: string[]
}

/**
 * Asks the service which image a launcher should stream (trace-key credentials).
 *
 * @example const { image } = await launchInfo(client, 'acme', 'game')
 */
export async function launchInfo(
  client: ApiClient,
  orgName: string,
  appName: string,
): Promise<LaunchInfo> {
  const { body } = await client.call<LaunchInfo>({
    method: 'GET',
    path: `/client/v1/apps/${encodeURIComponent(orgName)}/${encodeURIComponent(appName)}`,
    auth: 'trace',
    app: appName,
  })
  return body
}

/** Options of {@link fetchImage}. */
export interface FetchImageOptions {
  /** URL or file of the image; default: the app's current image from the service. */
  image?: string
  outDir: string
  /** A folder or tar to compare the rebuilt files with, byte for byte. */
  verifyAgainst?: string
  chunkBytes?: number
  saveImage?: string
  onProgress?: (received: number, total: number) => void
}

/** A fetched image, what the service said about it, and the comparison when asked for. */
export interface FetchedImage extends StreamedImage {
  launch?: LaunchInfo
  verified?: VerifyReport
}

/**
 * Fetches an app's current image like a launcher: asks the service for it with the trace key,
 * streams it from the depot by ranges into `outDir`, checks every block and the SHA-256, and
 * optionally compares the result with the original build.
 *
 * @example await fetchImage(client, 'acme', 'game', { outDir: 'game', verifyAgainst: 'game.tar' })
 */
export async function fetchImage(
  client: ApiClient,
  orgName: string,
  appName: string,
  opts: FetchImageOptions,
): Promise<FetchedImage> {
  const launch = opts.image ? undefined : await launchInfo(client, orgName, appName)
  const location = opts.image ?? (launch as LaunchInfo).image.url
  const source = await openImageSource(location)
  let streamed: StreamedImage
  try {
    streamed = await streamImage({
      source,
      outDir: opts.outDir,
      chunkBytes: opts.chunkBytes,
      sha256: launch?.image.sha256,
      saveImage: opts.saveImage,
      onProgress: opts.onProgress,
    })
  } finally {
    await source.close()
  }
  const fetched: FetchedImage = { ...streamed, launch }
  if (opts.verifyAgainst) {
    fetched.verified = await verifyRebuild(
      opts.outDir,
      streamed.header.files,
      opts.verifyAgainst,
      streamed.header.blockSize,
    )
  }
  return fetched
}

const usage = `Usage: rockit image fetch --org <org> --app <app> --out <dir> [options]

Streams an app's current image like a launcher: asks the service for it with the trace key,
reads the header with one range request for its fixed part and one for the rest, then the
block data in ranged chunks, checks every block against its hash and the image's SHA-256, and
writes the build's files under <dir>.

Options:
  --out <dir>                 where the build's files go (required)
  --verify-against <dir|tar>  then compare every file with the original build, byte for byte
  --image <url|file>          stream this image instead of asking the service for the app's
  --save-image <file>         also keep the image itself
  --chunk-mib <n>             MiB per range request (default 8)
${apiOptionsUsage}`

/** `rockit image fetch`. */
export const imageFetch: Command = {
  summary: "stream an app's image like a launcher and rebuild its files",
  usage,
  async run(args) {
    const { values } = parseArgs({
      args,
      options: {
        ...apiOptions,
        app: { type: 'string' },
        out: { type: 'string' },
        'verify-against': { type: 'string' },
        image: { type: 'string' },
        'save-image': { type: 'string' },
        'chunk-mib': { type: 'string' },
      },
    })
    if (!values.out) throw new UsageError('--out <dir> is required')
    if (!values.image && !values.app) throw new UsageError('--app <name> is required')
    const chunkMiB = Number(values['chunk-mib'] ?? 8)
    if (!(chunkMiB > 0)) throw new UsageError('--chunk-mib needs a positive number')

    const client = clientOf(values)
    let bar: Progress | undefined
    const fetched = await fetchImage(client, client.credentials.org ?? '', values.app ?? '', {
      image: values.image,
      outDir: values.out,
      verifyAgainst: values['verify-against'],
      chunkBytes: Math.round(chunkMiB * 1024 * 1024),
      saveImage: values['save-image'],
      onProgress(received, total) {
        bar ??= createProgress({
          label: `streaming ${basename(values.image ?? 'image.dxf')}`,
          total,
        })
        bar.update(received)
        if (received === total) bar.finish()
      },
    })
    const rate = formatBytes(Math.round(fetched.sizeBytes / Math.max(fetched.seconds, 0.001)))
    const which = fetched.launch
      ? `${fetched.launch.dxfName} (build ${fetched.launch.buildName})`
      : (values.image as string)
    process.stderr.write(
      `rockit: ${which}: ${formatBytes(fetched.sizeBytes)} in ${fetched.requests} ` +
        `range requests, ${fetched.seconds.toFixed(1)} s (${rate}/s); ` +
        `${fetched.blocks} blocks checked; ` +
        `${fetched.files} files written under ${values.out}\n`,
    )
    if (fetched.verified) {
      const { files, bytes, folders, symlinks } = fetched.verified
      process.stderr.write(
        `rockit: identical to ${values['verify-against']}: ` +
          `${files} files (${formatBytes(bytes)}), ${folders} folders, ${symlinks} symlinks\n`,
      )
    }
    return 0
  },
}
