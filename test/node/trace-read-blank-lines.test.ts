/**
 * Blank lines before a trace's header on the upload path (`readTrace`): every kind of blank
 * line is skipped and counted for line numbers, and skipping them decodes no text, so a body
 * of megabytes of blank lines before its header costs about what it costs after it
 * (docs/benchmarks.md, "Blank lines before a trace's header").
 */
import { gzipSync } from 'node:zlib'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { readTrace } from '../../src/domain/traces/read-trace'
import { buildModel } from '../../src/engine/build-model'
import { TraceError } from '../../src/engine/trace-errors'
import type { ParsedTrace } from '../../src/engine/trace-parse'
import { filesFor, header } from './engine-fixtures'

const model = buildModel(1024, filesFor(1024, [['a.bin', 2500]]))
const HEADER = JSON.stringify(header('s-1', 5000))
const READ = '[0,"a.bin",0,1]'
const limits = { maxBytes: 64 * 1024 * 1024, maxReads: 1000 }

/** `bytes` as an upload streams it, in pieces of `size` bytes. */
function body(bytes: Uint8Array, size = 7): ReadableStream<Uint8Array> {
  let at = 0
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close()
      controller.enqueue(bytes.slice(at, at + size))
      at += size
    },
  })
}

function read(text: string | Uint8Array, size?: number): Promise<ParsedTrace> {
  const bytes = typeof text === 'string' ? new TextEncoder().encode(text) : text
  return readTrace(body(bytes, size), async () => ({ model }), limits)
}

async function traceError(promise: Promise<unknown>): Promise<TraceError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  )
  expect(error).toBeInstanceOf(TraceError)
  return error as TraceError
}

/** Each kind of line that trims to nothing, ASCII and not. */
const BLANK_KINDS = [
  '',
  ' ',
  '\t',
  '\r',
  '  \t \r',
  '\v\f',
  '\ufeff', // a byte order mark alone
  '\u00a0', // no-break space
  ' \u3000\u2028 \ufeff\t', // ideographic space, line separator, BOM
]

afterEach(() => {
  vi.restoreAllMocks()
})

describe('readTrace, blank lines before the header', () => {
  it('skips every kind of blank line and names the header by its real line', async () => {
    const blanks = `${BLANK_KINDS.join('\n')}\n`
    for (const size of [1, 3, 64 * 1024]) {
      const trace = await read(`${blanks}${HEADER}\n\n${READ}\n`, size)
      expect(trace.headerLine, `pieces of ${size}`).toBe(BLANK_KINDS.length + 1)
      expect(trace.reads).toBe(1)
      expect(trace.textBytes).toBe(
        new TextEncoder().encode(`${blanks}${HEADER}\n\n${READ}\n`).length,
      )
    }
    const zipped = new Uint8Array(gzipSync(`${blanks}${HEADER}\n${READ}\n`))
    expect((await read(zipped, 5)).headerLine).toBe(BLANK_KINDS.length + 1)
  })

  it('names the real lines of a bad header and a bad read after blank lines', async () => {
    const blanks = `${BLANK_KINDS.join('\r\n')}\r\n`
    const line = BLANK_KINDS.length + 1
    const badHeader = await traceError(read(`${blanks}{"format":"x/1"}\n`))
    expect(badHeader.message).toBe(`line ${line}: header format must be "rockit-trace/1"`)
    const badRead = await traceError(read(`${blanks}${HEADER}\n \n[0,"c.bin",0,1]\n`))
    expect(badRead.message).toBe(`line ${line + 2}: unknown path "c.bin"`)
  })

  it('takes the first line with text for the header, after a BOM too', async () => {
    expect((await read(`\n \n\ufeff${HEADER}\n${READ}\n`)).headerLine).toBe(3)
    const nbspText = await traceError(read('\n\u00a0x\n'))
    expect(nbspText.message).toBe('line 2: not valid JSON')
  })

  it('refuses a line of invalid UTF-8 before the header on its line', async () => {
    const bytes = new Uint8Array([0x0a, 0x20, 0x0a, 0x20, 0xff, 0x20, 0x0a])
    const error = await traceError(read(bytes))
    expect(error.message).toBe('line 3: the text is not valid UTF-8')
  })

  it('still refuses a body of blank lines as empty, wherever it ends', async () => {
    for (const text of ['', '\n', ' \n\t', `${BLANK_KINDS.join('\n')}`]) {
      const error = await traceError(read(text))
      expect(error.message, JSON.stringify(text)).toBe(
        'line 1: the trace is empty: the header is missing',
      )
    }
  })

  it('skips ASCII blank lines without decoding them', async () => {
    const lines = 20_000
    const ascii = ['', ' ', '\t', '\r', ' \t\r', '\v\f']
    const blanks = Array.from({ length: lines }, (_, i) => ascii[i % ascii.length]).join('\n')
    const decode = vi.spyOn(TextDecoder.prototype, 'decode')
    const trace = await read(`${blanks}\n${HEADER}\n${READ}\n`, 64 * 1024)
    expect(trace.headerLine).toBe(lines + 1)
    // The header once, then the engine's few batches; before, one decode per blank line.
    expect(decode.mock.calls.length).toBeLessThan(10)
  })
})
