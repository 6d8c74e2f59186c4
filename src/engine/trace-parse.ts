/**
 * Reads a `rockit-trace/1` file (NDJSON, optionally gzip) as a stream and reduces it to first
 * accesses. The text is never held whole: bytes are counted as they are decompressed, so a
 * gzip bomb stops at the size limit, and each line is checked against the build as it comes.
 */
import { type BuildModel, modelIndex } from './build-model'
import { FirstAccessRecorder } from './first-access'
import { imageOffsetToSlots, slotOffsets } from './image-layout'
import { LineSplitter } from './ndjson-lines'
import { quoted, TraceError, TraceLimitError } from './trace-errors'
import { type FirstAccess, TRACE_FORMAT, type TraceHeader } from './trace-types'

/** Largest uncompressed trace accepted: 64 MiB. */
export const MAX_TRACE_BYTES = 64 * 1024 * 1024
/** Most reads accepted in one trace. */
export const MAX_TRACE_READS = 2_000_000
/** Text is split into lines at most this many bytes at a time. */
const PIECE_BYTES = 65536
/**
 * Reason of a gzip body that stops inflating: corrupt or cut data, or bytes after the end of
 * the gzip data (another member that is not gzip). Both are refused alike.
 */
export const GZIP_BROKEN = 'the gzip data is corrupt or has bytes after its end'
/** Times are kept as 32-bit milliseconds (49 days). */
const MAX_T_MS = 0xffffffff

/** Options of {@link parseTrace}. */
export interface ParseTraceOptions {
  /** The build the trace was recorded on. */
  model: BuildModel
  /** The image the launcher streamed (slot -> block), needed for `'@'` reads. */
  imageOrder?: Uint32Array
  /**
   * Offset of the image's first block in the offsets `'@'` reads use (the image header's
   * length when launchers count from the start of the image object); default 0.
   */
  imageBase?: number
  /** true: gzip; false: plain; absent: detected from the gzip magic bytes. */
  gzip?: boolean
  /** Uncompressed size limit in bytes; default {@link MAX_TRACE_BYTES}. */
  maxBytes?: number
  /** Read count limit; default {@link MAX_TRACE_READS}. */
  maxReads?: number
  /**
   * Number of the input's first line, for a caller that consumed lines before it (the blank
   * lines before the header); default 1.
   */
  firstLine?: number
}

/** What a trace file says once checked against its build. */
export interface ParsedTrace {
  header: TraceHeader
  /** Number of the header's line: the first line that is not blank. */
  headerLine: number
  /** Read lines. */
  reads: number
  firstAccess: FirstAccess
  /** Sum of the reads' lengths. */
  bytesRead: number
  /** Uncompressed size of the trace file. */
  textBytes: number
  durationMs: number
  /** `tMs` of the last read (0 without reads), to hold against `durationMs`. */
  lastReadMs: number
}

const HEADER_FIELDS = new Set([
  'format',
  'sessionId',
  'buildName',
  'dxfName',
  'durationMs',
  'firstSession',
])

/** An image name: `dxf-<buildId, 4 digits or more>-<image number, 2 digits or more>`. */
const IMAGE_NAME = /^dxf-\d{4,}-\d{2,}$/

/**
 * Checks the header, the first line that is not blank; throws a {@link TraceError} naming
 * `lineNo` (default 1) when it is not a valid header.
 */
export function parseHeader(line: string, lineNo = 1): TraceHeader {
  const value = parseJson(line, lineNo)
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TraceError(lineNo, 'the header must be a JSON object')
  }
  const header = value as Record<string, unknown>
  for (const key of Object.keys(header)) {
    if (!HEADER_FIELDS.has(key)) throw new TraceError(lineNo, `unknown header field ${quoted(key)}`)
  }
  if (header.format !== TRACE_FORMAT) {
    throw new TraceError(lineNo, `header format must be "${TRACE_FORMAT}"`)
  }
  const { sessionId, buildName, dxfName, durationMs, firstSession } = header
  if (typeof sessionId !== 'string' || sessionId.length < 1 || sessionId.length > 200) {
    throw new TraceError(lineNo, 'sessionId must be a string of 1 to 200 characters')
  }
  if (buildName !== undefined && (typeof buildName !== 'string' || buildName.length < 1)) {
    throw new TraceError(lineNo, 'buildName must be a non-empty string')
  }
  if (dxfName !== undefined && (typeof dxfName !== 'string' || !IMAGE_NAME.test(dxfName))) {
    throw new TraceError(lineNo, 'dxfName must be an image name such as "dxf-0001-02"')
  }
  if (!Number.isSafeInteger(durationMs) || (durationMs as number) < 0) {
    throw new TraceError(lineNo, 'durationMs must be an integer >= 0')
  }
  if (firstSession !== undefined && typeof firstSession !== 'boolean') {
    throw new TraceError(lineNo, 'firstSession must be true or false')
  }
  return header as unknown as TraceHeader
}

function parseJson(line: string, lineNo: number): unknown {
  try {
    return JSON.parse(line)
  } catch {
    throw new TraceError(lineNo, 'not valid JSON')
  }
}

function isCount(value: unknown, min: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min
}

/** Checks read lines against the build and feeds their blocks to the recorder. */
class ReadChecker {
  reads = 0
  bytesRead = 0
  /** `tMs` of the last read so far. */
  lastT = 0
  private offsets: Float64Array | undefined
  private readonly recorder: FirstAccessRecorder
  private readonly fileByPath: Map<string, number>

  constructor(
    private readonly model: BuildModel,
    private readonly imageOrder: Uint32Array | undefined,
    private readonly imageBase: number,
    private readonly maxReads: number,
  ) {
    this.recorder = new FirstAccessRecorder(model.blockCount)
    this.fileByPath = modelIndex(model).fileByPath
  }

  read(line: string, lineNo: number): void {
    const value = parseJson(line, lineNo)
    if (!Array.isArray(value) || value.length !== 4) {
      throw new TraceError(lineNo, 'a read must be [tMs, path, offset, length]')
    }
    const [tMs, path, offset, length] = value
    if (!isCount(tMs, 0) || tMs > MAX_T_MS) {
      throw new TraceError(lineNo, `tMs must be an integer from 0 to ${MAX_T_MS}`)
    }
    if (typeof path !== 'string') throw new TraceError(lineNo, 'path must be a string')
    if (!isCount(offset, 0)) throw new TraceError(lineNo, 'offset must be an integer >= 0')
    if (!isCount(length, 1)) throw new TraceError(lineNo, 'length must be an integer >= 1')
    if (tMs < this.lastT) {
      throw new TraceError(lineNo, `time goes back (${tMs} ms after ${this.lastT} ms)`)
    }

    this.reads++
    if (this.reads > this.maxReads) throw new TraceLimitError('tooManyReads', this.maxReads)
    this.lastT = tMs
    this.bytesRead += length
    if (path === '@') this.readImage(offset, length, tMs, lineNo)
    else this.readFile(path, offset, length, tMs, lineNo)
  }

  finish(): FirstAccess {
    return this.recorder.finish()
  }

  private readFile(path: string, offset: number, length: number, tMs: number, lineNo: number) {
    const index = this.fileByPath.get(path)
    if (index === undefined) throw new TraceError(lineNo, `unknown path ${quoted(path)}`)
    const file = this.model.files[index]
    if (offset + length > file.size) {
      throw new TraceError(
        lineNo,
        `read outside ${quoted(path)}: bytes ${offset}..${offset + length - 1} of ${file.size}`,
      )
    }
    const first = file.firstBlock + Math.floor(offset / this.model.blockSize)
    const last = file.firstBlock + Math.floor((offset + length - 1) / this.model.blockSize)
    this.recorder.touchBlocks(first, last, tMs)
  }

  private readImage(offset: number, length: number, tMs: number, lineNo: number) {
    const order = this.imageOrder
    if (!order) throw new TraceError(lineNo, 'an image read ("@") but no image to map it to')
    this.offsets ??= slotOffsets(this.model, order)
    const range = imageOffsetToSlots(this.offsets, offset - this.imageBase, length)
    if (!range) {
      const first = this.imageBase
      const last = first + this.offsets[this.offsets.length - 1] - 1
      throw new TraceError(
        lineNo,
        `read outside the image: bytes ${offset}..${offset + length - 1}, blocks are at ${first}..${last}`,
      )
    }
    this.recorder.touchSlots(order, range.first, range.last, tMs)
  }
}

/** Bytes in memory as a stream of 64 KiB pieces, so lines are decoded a piece at a time. */
function pieces(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let at = 0
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= bytes.length) {
        controller.close()
        return
      }
      controller.enqueue(bytes.subarray(at, at + PIECE_BYTES))
      at += PIECE_BYTES
    },
  })
}

/** What the input stream did, so its own failure is not blamed on the gzip data. */
interface SourceState {
  gzip: boolean
  error?: unknown
}

/** The rest of a reader with bytes already read put back in front; records a failure. */
function resumed(
  head: Uint8Array,
  reader: ReadableStreamDefaultReader<Uint8Array>,
  state: SourceState,
) {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      if (head.length > 0) controller.enqueue(head)
    },
    async pull(controller) {
      try {
        const { done, value } = await reader.read()
        if (done) controller.close()
        else controller.enqueue(value)
      } catch (error) {
        state.error = error
        throw error
      }
    },
    cancel(reason) {
      return reader.cancel(reason)
    },
  })
}

/** The decompressed byte stream, sniffing the gzip magic (1f 8b) when `gzip` is not given. */
async function plainStream(
  input: ReadableStream<Uint8Array> | Uint8Array,
  gzip: boolean | undefined,
  state: SourceState,
): Promise<ReadableStream<Uint8Array>> {
  const reader = (input instanceof Uint8Array ? pieces(input) : input).getReader()
  let head = new Uint8Array(0)
  while (gzip === undefined && head.length < 2) {
    let chunk: ReadableStreamReadResult<Uint8Array>
    try {
      chunk = await reader.read()
    } catch (error) {
      state.error = error
      throw error
    }
    if (chunk.done) break
    const joined = new Uint8Array(head.length + chunk.value.length)
    joined.set(head)
    joined.set(chunk.value, head.length)
    head = joined
  }
  state.gzip = gzip ?? (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b)
  const stream = resumed(head, reader, state)
  return state.gzip
    ? stream.pipeThrough(new DecompressionStream('gzip') as ReadableWritablePair<Uint8Array>)
    : stream
}

/**
 * Parses and checks a trace against its build, streaming. Throws {@link TraceError} (naming
 * the first bad line; line 1 is the header) or {@link TraceLimitError}; an error of the input
 * stream itself (a broken upload) is rethrown as it is.
 *
 * @example
 * const trace = await parseTrace(request.body, { model, gzip: true })
 * trace.firstAccess.blocks // blocks in order of first access
 */
export async function parseTrace(
  input: ReadableStream<Uint8Array> | Uint8Array,
  opts: ParseTraceOptions,
): Promise<ParsedTrace> {
  const maxBytes = opts.maxBytes ?? MAX_TRACE_BYTES
  const checker = new ReadChecker(
    opts.model,
    opts.imageOrder,
    opts.imageBase ?? 0,
    opts.maxReads ?? MAX_TRACE_READS,
  )
  const source: SourceState = { gzip: false }
  const reader = (await plainStream(input, opts.gzip, source)).getReader()
  let header: TraceHeader | undefined
  let headerLine = 0
  let textBytes = 0
  // Blank lines are skipped wherever they are, before the header too; they still count.
  const lines = new LineSplitter((line, lineNo) => {
    if (line.trim() === '') return
    if (header) checker.read(line, lineNo)
    else {
      header = parseHeader(line, lineNo)
      headerLine = lineNo
    }
  }, opts.firstLine)

  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>
      try {
        chunk = await reader.read()
      } catch (error) {
        // A failing upload is not the trace's fault: only a decompression error is. The
        // decompressor gives nothing of the chunk it fails on, so the line is the one the
        // text reached before that chunk (line 1 when the gzip came in one piece).
        if (!source.gzip || source.error !== undefined) throw error
        throw new TraceError(lines.currentLine, GZIP_BROKEN)
      }
      if (chunk.done) break
      textBytes += chunk.value.length
      if (textBytes > maxBytes) throw new TraceLimitError('tooLarge', maxBytes)
      // Big chunks are cut so that a line batch never becomes one huge string.
      for (let at = 0; at < chunk.value.length; at += PIECE_BYTES) {
        lines.push(chunk.value.subarray(at, at + PIECE_BYTES))
      }
    }
    lines.end()
  } catch (error) {
    reader.cancel().catch(() => {})
    throw error
  }

  if (!header) throw new TraceError(1, 'the trace is empty: the header is missing')
  return {
    header,
    headerLine,
    reads: checker.reads,
    firstAccess: checker.finish(),
    bytesRead: checker.bytesRead,
    textBytes,
    durationMs: header.durationMs,
    lastReadMs: checker.lastT,
  }
}
