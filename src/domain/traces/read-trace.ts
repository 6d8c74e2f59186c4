/**
 * Reads an uploaded trace file as a stream: decompress when it is gzip, read the header (the
 * first line that is not blank) to learn which build the trace belongs to, then let the
 * engine check every line against that build. Lines are bounded in length as they stream,
 * so neither a line without an end nor a gzip bomb is ever held in memory.
 */
import { createGunzip, type Gunzip } from 'node:zlib'
import type { BuildModel } from '../../engine/build-model'
import { TraceError, TraceLimitError } from '../../engine/trace-errors'
import { GZIP_BROKEN, type ParsedTrace, parseHeader, parseTrace } from '../../engine/trace-parse'
import type { TraceHeader } from '../../engine/trace-types'

/** Longest line accepted (the header included); a read line is a few hundred bytes. */
export const MAX_LINE_BYTES = 64 * 1024

/**
 * Longest session a trace may claim (`durationMs`): 7 days. Trace time counts towards an app's
 * `minTraceTimeSec`, so one trace must not be able to claim all of it.
 */
export const MAX_DURATION_MS = 7 * 24 * 3600 * 1000

/** The build a header names, as the engine needs it to check the reads. */
export interface TraceTarget {
  model: BuildModel
  /** The order of the image a launcher streams, for reads by image offset (`"@"`). */
  imageOrder?: Uint32Array
  /** Offset of that image's block data in `image.dxf` (its header length). */
  imageBase?: number
}

/** Limits of {@link readTrace}. */
export interface ReadTraceOptions {
  maxBytes: number
  maxReads: number
}

const NEWLINE = 0x0a

/** Inflated bytes per piece; one piece is all a stalled reader leaves buffered. */
const INFLATE_CHUNK = 64 * 1024

/** Resolves once `gunzip` takes more input, or once it is gone. */
function wantsInput(gunzip: Gunzip): Promise<void> {
  return new Promise((resolve) => {
    const go = () => {
      gunzip.off('drain', go)
      gunzip.off('close', go)
      resolve()
    }
    gunzip.on('drain', go)
    gunzip.on('close', go)
  })
}

/**
 * Gzip-inflated bytes of `compressed`, inflated only as fast as they are read. Not workerd's
 * DecompressionStream: it inflates each chunk written to it in full, read or not, so a few
 * MiB of gzip fill gigabytes of memory before the reader can stop them. node:zlib's gunzip
 * pauses once its output buffer is full, and stops for good when the stream is cancelled.
 */
function inflated(
  compressed: ReadableStream<Uint8Array>,
  source: { error?: unknown } = {},
): ReadableStream<Uint8Array> {
  const gunzip = createGunzip({ chunkSize: INFLATE_CHUNK })
  // Errors reach the reader through the iterator; without a listener they would be thrown.
  gunzip.on('error', () => {})
  const reader = compressed.getReader()
  const stop = (error?: unknown) => {
    gunzip.destroy(error instanceof Error ? error : undefined)
    reader.cancel(error).catch(() => {})
  }
  const feed = async () => {
    for (;;) {
      if (gunzip.destroyed) return stop()
      const { done, value } = await reader.read()
      if (gunzip.destroyed) return stop()
      if (done) return void gunzip.end()
      if (!gunzip.write(value)) await wantsInput(gunzip)
    }
  }
  // A broken upload ends the text with its error, so it is not taken for the end of the trace;
  // `source` keeps it, so it is not taken for broken gzip either.
  feed().catch((error) => {
    source.error = error
    stop(error instanceof Error ? error : new Error(String(error)))
  })
  const output = gunzip[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>
  return new ReadableStream<Uint8Array>(
    {
      pull: async (controller) => {
        const { done, value } = await output.next()
        if (done) controller.close()
        else controller.enqueue(value)
      },
      cancel: () => stop(),
    },
    { highWaterMark: 0 },
  )
}

/**
 * What goes wrong in the stream before the parser sees it: a line over the limit, or gzip data
 * that stops inflating. Either ends the stream where it happens and names the line; the
 * first problem wins. gunzip gives nothing of the piece of output it fails in, so a gzip
 * break is named on the line the text had reached before that piece: line 1 for a short
 * trace, even when only bytes after the end of complete gzip data are wrong.
 */
class StreamCheck {
  error: TraceError | undefined
  private line = 1
  private lineBytes = 0
  private corrupt = false

  /** Passes bytes on, counting lines; ends the stream at the first line over the limit. */
  lines(): TransformStream<Uint8Array, Uint8Array> {
    return new TransformStream({
      transform: (chunk, controller) => {
        if (this.error) return
        let from = 0
        for (;;) {
          const newline = chunk.indexOf(NEWLINE, from)
          const end = newline === -1 ? chunk.length : newline
          this.lineBytes += end - from
          if (this.lineBytes > MAX_LINE_BYTES) {
            this.error = new TraceError(this.line, `line is longer than ${MAX_LINE_BYTES} bytes`)
            controller.terminate()
            return
          }
          if (newline === -1) break
          this.line++
          this.lineBytes = 0
          from = newline + 1
        }
        controller.enqueue(chunk)
      },
      // Runs once every byte before the break has been counted, so the line is exact.
      flush: () => {
        if (this.corrupt && !this.error) {
          this.error = new TraceError(this.line, GZIP_BROKEN)
        }
      },
    })
  }

  /**
   * The inflated text of `compressed`, ending where the gzip data breaks. An error of
   * `compressed` itself (a broken upload) is passed on as it is.
   */
  inflate(compressed: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
    const source: { error?: unknown } = {}
    const reader = inflated(compressed, source).getReader()
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        try {
          const { done, value } = await reader.read()
          if (done) controller.close()
          else controller.enqueue(value)
        } catch {
          if (source.error !== undefined) throw source.error
          this.corrupt = true
          controller.close()
        }
      },
      cancel: (reason) => reader.cancel(reason),
    })
  }
}

async function startsWithGzip(
  reader: ReadableStreamDefaultReader<Uint8Array>,
): Promise<{ head: Uint8Array; gzip: boolean }> {
  let head: Uint8Array = new Uint8Array(0)
  while (head.length < 2) {
    const { done, value } = await reader.read()
    if (done) break
    head = concat([head, value])
  }
  return { head, gzip: head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b }
}

function concat(pieces: Uint8Array[]): Uint8Array {
  const bytes = new Uint8Array(pieces.reduce((sum, piece) => sum + piece.length, 0))
  let at = 0
  for (const piece of pieces) {
    bytes.set(piece, at)
    at += piece.length
  }
  return bytes
}

/** A stream of `head` followed by whatever `reader` still gives. */
function prepend(head: Uint8Array, reader: ReadableStreamDefaultReader<Uint8Array>) {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      if (head.length > 0) controller.enqueue(head)
    },
    async pull(controller) {
      const { done, value } = await reader.read()
      if (done) controller.close()
      else controller.enqueue(value)
    },
    cancel(reason) {
      return reader.cancel(reason)
    },
  })
}

/**
 * Rejects with `TraceLimitError` as soon as `compressed` inflates past `maxBytes`. Inflating
 * alone is fast, so a gzip bomb is caught before any of its lines is checked.
 */
async function inflatedSizeCheck(
  compressed: ReadableStream<Uint8Array>,
  maxBytes: number,
): Promise<void> {
  const reader = inflated(compressed).getReader()
  let total = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return
      total += value.length
      if (total > maxBytes) throw new TraceLimitError('tooLarge', maxBytes)
    }
  } catch (error) {
    if (error instanceof TraceLimitError) throw error
    // Corrupt gzip: the parser names the line where it breaks.
  } finally {
    reader.cancel().catch(() => {})
  }
}

/**
 * The plain text stream of a body that may be gzip (detected by its magic bytes), and for gzip
 * a check that inflates a copy and rejects once the text would pass `maxBytes`.
 */
async function plainText(body: ReadableStream<Uint8Array>, check: StreamCheck, maxBytes: number) {
  const reader = body.getReader()
  const { head, gzip } = await startsWithGzip(reader)
  const stream = prepend(head, reader)
  if (!gzip) return { text: stream, sizeCheck: undefined }
  const [toParse, toCount] = stream.tee()
  return { text: check.inflate(toParse), sizeCheck: inflatedSizeCheck(toCount, maxBytes) }
}

/** One decoder for every line read here: `decode` without `stream` starts afresh each call. */
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })

/** The ASCII white space `String.prototype.trim` removes: tab, LF, VT, FF, CR and space. */
function isAsciiSpace(byte: number): boolean {
  return byte === 0x20 || (byte >= 0x09 && byte <= 0x0d)
}

/**
 * Whether `bytes[from..to)` is a line of nothing but white space (the engine's rule: its text
 * trims to nothing). Decided on the bytes while they are ASCII: a line of only ASCII white
 * space is blank and any other ASCII byte makes it not blank, without decoding. Only a line of
 * white space and bytes over 0x7F (a BOM, a no-break space, or invalid UTF-8) is decoded.
 */
function isBlank(bytes: Uint8Array, from = 0, to = bytes.length): boolean {
  let wide = false
  for (let at = from; at < to; at++) {
    const byte = bytes[at]
    if (byte >= 0x80) wide = true
    else if (!isAsciiSpace(byte)) return false
  }
  if (!wide) return true
  try {
    return decoder.decode(bytes.subarray(from, to)).trim() === ''
  } catch {
    return false
  }
}

/**
 * Reads up to the end of the header, the first line that is not blank. Returns the header's
 * bytes, its line number, everything read from its start on, and how many bytes of blank
 * lines came before it. Blank lines are dropped as they are read, so they are never gathered;
 * skipping one costs a scan of its bytes, with no allocation (docs/benchmarks.md).
 */
async function readHeaderLine(reader: ReadableStreamDefaultReader<Uint8Array>) {
  let lineNo = 1
  let skipped = 0
  let read: Uint8Array = new Uint8Array(0)
  // Start of the first line of `read` not yet known to be blank.
  let at = 0
  for (;;) {
    let newline = read.indexOf(NEWLINE, at)
    while (newline !== -1 && isBlank(read, at, newline)) {
      skipped += newline + 1 - at
      at = newline + 1
      lineNo++
      newline = read.indexOf(NEWLINE, at)
    }
    if (newline !== -1) {
      const rest = read.subarray(at)
      return { read: rest, line: rest.subarray(0, newline - at), lineNo, skipped }
    }

    const chunk = await reader.read()
    if (chunk.done) {
      const rest = read.subarray(at)
      return { read: rest, line: rest, lineNo, skipped }
    }
    read = at === read.length ? chunk.value : concat([read.subarray(at), chunk.value])
    at = 0
  }
}

function headerOf(line: Uint8Array, lineNo: number): TraceHeader {
  if (isBlank(line)) throw new TraceError(1, 'the trace is empty: the header is missing')
  let text: string
  try {
    text = decoder.decode(line)
  } catch {
    throw new TraceError(lineNo, 'the text is not valid UTF-8')
  }
  const header = parseHeader(text.endsWith('\r') ? text.slice(0, -1) : text, lineNo)
  if (header.durationMs > MAX_DURATION_MS) {
    throw new TraceError(lineNo, `durationMs must be at most ${MAX_DURATION_MS} (7 days)`)
  }
  return header
}

/** The session cannot end before its last read: refused on the header, where `durationMs` is. */
function checkDuration(parsed: ParsedTrace): void {
  if (parsed.durationMs < parsed.lastReadMs) {
    throw new TraceError(
      parsed.headerLine,
      `durationMs ${parsed.durationMs} is before the last read (tMs ${parsed.lastReadMs})`,
    )
  }
}

/**
 * Parses a trace upload. `target` is asked for the build once the header is known, with the
 * header's line number (the first line that is not blank; it throws a {@link TraceError} on
 * that line when the header names no usable build). Throws
 * `TraceError` (a line that does not fit) or `TraceLimitError` (over `maxBytes` or
 * `maxReads`).
 */
export async function readTrace(
  body: ReadableStream<Uint8Array>,
  target: (header: TraceHeader, headerLine: number) => Promise<TraceTarget>,
  options: ReadTraceOptions,
): Promise<ParsedTrace> {
  const check = new StreamCheck()
  const { text, sizeCheck } = await plainText(body, check, options.maxBytes)
  const reader = text.pipeThrough(check.lines()).getReader()

  const parse = async () => {
    const first = await readHeaderLine(reader)
    if (check.error) throw check.error
    const { model, imageOrder, imageBase } = await target(
      headerOf(first.line, first.lineNo),
      first.lineNo,
    )

    let parsed: ParsedTrace
    try {
      const fromHeader = await parseTrace(prepend(first.read, reader), {
        model,
        imageOrder,
        imageBase,
        gzip: false,
        maxBytes: options.maxBytes - first.skipped,
        maxReads: options.maxReads,
        firstLine: first.lineNo,
      })
      parsed = { ...fromHeader, textBytes: fromHeader.textBytes + first.skipped }
    } catch (error) {
      throw check.error ?? error
    }
    if (check.error) throw check.error
    checkDuration(parsed)
    return parsed
  }

  try {
    // Counting the inflated size first costs one fast pass and keeps the compressed body
    // (the tee's queue) in memory meanwhile; a bomb is refused before any line is checked.
    if (sizeCheck) await sizeCheck
    return await parse()
  } catch (error) {
    reader.cancel().catch(() => {})
    throw error
  }
}
