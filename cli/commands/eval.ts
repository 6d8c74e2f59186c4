import { createReadStream } from 'node:fs'
import { Readable } from 'node:stream'
import { parseArgs } from 'node:util'
import type { ParsedImageHeader } from '../../src/engine/dxf'
import { parseTrace } from '../../src/engine/trace-parse'
import type { FirstAccess } from '../../src/engine/trace-types'
import { type Command, UsageError } from '../command'
import { formatBytes } from '../progress'
import {
  evaluatePreload,
  formatReport,
  modelOfImage,
  type PreloadReport,
  REPORT_MBITS,
} from './eval-report'
import { openImageSource, readImageHeader } from './image-source'

/** Options of {@link evaluateImage}. */
export interface EvaluateImageOptions {
  /** image.dxf as a file or a URL (only its header is read). */
  image: string
  /** Held-out trace files (plain or gzip). */
  traces: string[]
  /** Trace files the file-level order learns from; default: leave one out of `traces`. */
  train?: string[]
  mbits?: readonly number[]
  /** Add the oracle row `best shared` (see `EvaluateOptions.bestShared`). */
  bestShared?: boolean
}

/** A report together with the image it measured. */
export interface ImageEvaluation extends PreloadReport {
  image: string
  /** Bytes of the image file: header plus block data (`imageBytes`). */
  fileBytes: number
  headerBytes: number
  blockSize: number
  blocks: number
}

/** Reads a trace file and reduces it to first accesses on the image's build. */
async function readTrace(
  file: string,
  model: ReturnType<typeof modelOfImage>,
  header: ParsedImageHeader,
): Promise<FirstAccess> {
  const stream = Readable.toWeb(createReadStream(file)) as ReadableStream<Uint8Array>
  try {
    const parsed = await parseTrace(stream, { model, imageOrder: header.order })
    return parsed.firstAccess
  } catch (error) {
    const message = (error as Error).message
    if ((error as { code?: string }).code === 'ENOENT') throw new Error(`${file} does not exist`)
    throw new Error(`${file}: ${message} (is it a trace of this image's build?)`)
  }
}

/**
 * Reads an image's header (from a file or by two range requests) and measures its preload on
 * held-out traces next to native, file-level and ideal orders and a full download.
 *
 * @example const report = await evaluateImage({ image: 'image.dxf', traces: ['t1.ndjson'] })
 */
export async function evaluateImage(opts: EvaluateImageOptions): Promise<ImageEvaluation> {
  const source = await openImageSource(opts.image)
  let header: ParsedImageHeader
  try {
    header = (await readImageHeader(source)).header
  } finally {
    await source.close()
  }
  const model = modelOfImage(header)
  const traces = await Promise.all(opts.traces.map((file) => readTrace(file, model, header)))
  const train =
    opts.train && (await Promise.all(opts.train.map((f) => readTrace(f, model, header))))
  const report = await evaluatePreload(model, header.order, traces, {
    train,
    mbits: opts.mbits,
    bestShared: opts.bestShared,
  })
  return {
    ...report,
    image: opts.image,
    fileBytes: header.headerLength + header.dataLength,
    headerBytes: header.headerLength,
    blockSize: header.blockSize,
    blocks: header.blockCount,
  }
}

/** What the `best shared` row is, for the text output. */
export function bestSharedNote(bestShared: { exact: boolean }): string {
  const cut = bestShared.exact ? '' : '; search cut short, so an upper estimate'
  return (
    'best shared: the best any one order shared by the held-out traces reaches, worked out ' +
    `from those traces (an oracle, not a learnt order)${cut}`
  )
}

/** Splits the values after a flag up to the next flag: `--traces a b --train c`. */
function fileLists(args: string[]): { rest: string[]; lists: Record<string, string[]> } {
  const lists: Record<string, string[]> = {}
  const rest: string[] = []
  let current: string[] | undefined
  for (const arg of args) {
    if (arg === '--traces' || arg === '--train') {
      current = lists[arg.slice(2)] ??= []
    } else if (arg.startsWith('-')) {
      current = undefined
      rest.push(arg)
    } else if (current) current.push(arg)
    else rest.push(arg)
  }
  return { rest, lists }
}

const usage = `Usage: rockit eval --image <image.dxf|URL> --traces <file...> [options]

Measures how soon held-out sessions could start on an image: for each trace and bandwidth the
smallest preload that never stalls (P*), median and p90 over the traces, as seconds of time to
play and as a share of the image. Rows: native (tar order), file-level (whole files by first
access, learnt from --train or from the other traces), image (the image's own order), ideal
(each trace's own order: a lower bound), full download. Only the image's header is read.

Options:
  --image <file|URL>     the image (required)
  --traces <file...>     held-out traces, plain or gzip (required)
  --train <file...>      traces the file-level order learns from (default: leave one out)
  --mbit <a,b,c>         bandwidths in Mbit/s (default ${REPORT_MBITS.join(',')})
  --best-shared          add the row best shared: the best median and p90 any one order
                         shared by the held-out traces reaches (an oracle that knows them)
  --json                 print the report as JSON`

/** `rockit eval`. */
export const evalCommand: Command = {
  summary: 'measure preload and time to play of an image on held-out traces',
  usage,
  async run(args) {
    const { rest, lists } = fileLists(args)
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        image: { type: 'string' },
        mbit: { type: 'string' },
        json: { type: 'boolean' },
        'best-shared': { type: 'boolean' },
      },
    })
    if (positionals.length > 0) throw new UsageError(`unexpected ${positionals[0]}`)
    if (!values.image) throw new UsageError('--image <file|URL> is required')
    if (!lists.traces?.length) throw new UsageError('--traces needs at least one file')
    const mbits = values.mbit?.split(',').map(Number)
    if (mbits?.some((mbit) => !(mbit > 0))) throw new UsageError('--mbit takes positive numbers')

    const report = await evaluateImage({
      image: values.image,
      traces: lists.traces,
      train: lists.train,
      mbits,
      bestShared: values['best-shared'],
    })
    if (values.json) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
      return 0
    }
    const learnt =
      report.fileLevelFrom === 'train'
        ? `${report.trainTraces} training traces`
        : 'the other held-out traces'
    process.stdout.write(
      `image ${report.image}: ${formatBytes(report.fileBytes)} ` +
        `(header ${formatBytes(report.headerBytes)}), ${report.blocks} blocks of ` +
        `${formatBytes(report.blockSize)}\n` +
        `${report.traces} held-out trace${report.traces === 1 ? '' : 's'}; ` +
        `file-level order from ${learnt}\n\n` +
        `${formatReport(report)}\n` +
        (report.bestShared ? `${bestSharedNote(report.bestShared)}\n` : ''),
    )
    return 0
  },
}
