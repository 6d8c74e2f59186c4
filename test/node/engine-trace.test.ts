import { once } from 'node:events'
import { createGzip, gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { type BuildModel, buildModel } from '../../src/engine/build-model'
import { slotOffsets } from '../../src/engine/image-layout'
import {
  decodeNormalisedTrace,
  encodeNormalisedTrace,
  firstAccessToReads,
  serialiseTrace,
} from '../../src/engine/trace-codec'
import { TraceError, TraceLimitError } from '../../src/engine/trace-errors'
import { GZIP_BROKEN, type ParseTraceOptions, parseTrace } from '../../src/engine/trace-parse'
import type { FirstAccess, TraceHeader, TraceRead } from '../../src/engine/trace-types'
import { filesFor, header, randomInt, randomModel, randomReads, seededRng } from './engine-fixtures'

const BLOCK = 1024
// a.bin: blocks 0-2 (2500 bytes), empty.txt: none, b.bin: blocks 3-4 (2048 bytes)
const model = buildModel(
  BLOCK,
  filesFor(BLOCK, [
    ['a.bin', 2500],
    ['empty.txt', 0],
    ['b.bin', 2048],
  ]),
)
const HEADER = JSON.stringify(header('s-1', 5000))

function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text)
}

function parse(text: string, opts: Partial<ParseTraceOptions> = {}) {
  return parseTrace(bytes(text), { model, ...opts })
}

/** First accesses computed the slow, obvious way. */
function expectedFirstAccess(m: BuildModel, reads: TraceRead[]): FirstAccess {
  const first = new Map<number, number>()
  for (const [t, path, offset, length] of reads) {
    const file = m.files.find((f) => f.path === path)!
    const from = file.firstBlock + Math.floor(offset / m.blockSize)
    const to = file.firstBlock + Math.floor((offset + length - 1) / m.blockSize)
    for (let block = from; block <= to; block++) if (!first.has(block)) first.set(block, t)
  }
  const pairs = [...first].sort((a, b) => a[1] - b[1] || a[0] - b[0])
  return {
    blocks: Uint32Array.from(pairs.map(([block]) => block)),
    tMs: Uint32Array.from(pairs.map(([, t]) => t)),
  }
}

/** Splits bytes into a stream of random small chunks, to cross every boundary. */
function chunked(data: Uint8Array, seed: number): ReadableStream<Uint8Array> {
  const rng = seededRng(seed)
  let at = 0
  return new ReadableStream({
    pull(controller) {
      if (at >= data.length) return controller.close()
      const size = randomInt(rng, 1, 7)
      controller.enqueue(data.slice(at, at + size))
      at += size
    },
  })
}

async function traceError(promise: Promise<unknown>): Promise<TraceError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(TraceError)
  return error as TraceError
}

describe('parseTrace', () => {
  it('reduces reads to first accesses sorted by time then block', async () => {
    const text = [
      HEADER,
      '[0,"b.bin",1500,10]', // block 4
      '[0,"a.bin",0,1]', // block 0, same time: sorted before 4
      '[7,"a.bin",1000,1500]', // blocks 1, 2
      '[9,"a.bin",0,2500]', // nothing new
      '[12,"b.bin",0,2048]', // block 3
    ].join('\n')
    const trace = await parse(text)
    expect(trace.header).toEqual(header('s-1', 5000))
    expect(trace.reads).toBe(5)
    expect([...trace.firstAccess.blocks]).toEqual([0, 4, 1, 2, 3])
    expect([...trace.firstAccess.tMs]).toEqual([0, 0, 7, 7, 12])
    expect(trace.bytesRead).toBe(10 + 1 + 1500 + 2500 + 2048)
    expect(trace.durationMs).toBe(5000)
    expect(trace.textBytes).toBe(bytes(text).length)
  })

  it('accepts a header-only trace, CRLF line ends and blank lines', async () => {
    expect((await parse(`${HEADER}\n`)).reads).toBe(0)
    const trace = await parse(`${HEADER}\r\n[1,"a.bin",0,1]\r\n\r\n[2,"b.bin",0,1]\r\n\n`)
    expect([...trace.firstAccess.blocks]).toEqual([0, 3])
  })

  it('skips blank lines before the header and counts them', async () => {
    const trace = await parse(`\n \r\n\t\n${HEADER}\n[0,"a.bin",0,1]\n`)
    expect(trace.header).toEqual(header('s-1', 5000))
    expect(trace.headerLine).toBe(4)
    expect([...trace.firstAccess.blocks]).toEqual([0])

    const badRead = await traceError(parse(`\n\n${HEADER}\n[0,"c.bin",0,1]`))
    expect(badRead.line).toBe(4)
    const badHeader = await traceError(parse('\n\n{"format":"x/1"}\n'))
    expect(badHeader.message).toBe('line 3: header format must be "rockit-trace/1"')
    const onlyBlank = await traceError(parse('\n  \n'))
    expect(onlyBlank.message).toBe('line 1: the trace is empty: the header is missing')
    const zipped = new Uint8Array(gzipSync(`\r\n\n${HEADER}\n[0,"b.bin",0,1]`))
    expect((await parseTrace(zipped, { model })).headerLine).toBe(3)
  })

  it('numbers lines from firstLine', async () => {
    const trace = await parse(`${HEADER}\n[0,"a.bin",0,1]`, { firstLine: 5 })
    expect(trace.headerLine).toBe(5)
    expect((await traceError(parse(`${HEADER}\n[0,"x",0,1]`, { firstLine: 5 }))).line).toBe(6)
  })

  it('accepts a UTF-8 byte order mark before the header', async () => {
    const trace = await parseTrace(
      new Uint8Array([0xef, 0xbb, 0xbf, ...bytes(`${HEADER}\n[0,"a.bin",0,1]`)]),
      { model },
    )
    expect([...trace.firstAccess.blocks]).toEqual([0])
  })

  it('accepts the optional header fields', async () => {
    const full = {
      ...header('s', 1),
      buildName: 'build-0002',
      dxfName: 'dxf-0002-03',
      firstSession: true,
    }
    expect((await parse(JSON.stringify(full))).header).toEqual(full)
  })

  it('reads gzip, detected or declared, and plain text split anywhere', async () => {
    const text = `${HEADER}\n[0,"a.bin",0,2500]\n[3,"b.bin",100,1]\n`
    const zipped = new Uint8Array(gzipSync(text))
    const plain = await parse(text)
    for (const input of [
      parseTrace(zipped, { model }),
      parseTrace(zipped, { model, gzip: true }),
      parseTrace(chunked(zipped, 1), { model }),
      parseTrace(chunked(bytes(text), 2), { model, gzip: false }),
    ]) {
      const trace = await input
      expect(trace.firstAccess).toEqual(plain.firstAccess)
      expect(trace.textBytes).toBe(bytes(text).length)
    }
  }, 10_000)

  it('keeps multi-byte paths intact across chunk boundaries', async () => {
    const m = buildModel(BLOCK, filesFor(BLOCK, [['données/é€😀.bin', 3000]]))
    const text = `${HEADER}\n[5,"données/é€😀.bin",2048,1]\n`
    for (let seed = 0; seed < 20; seed++) {
      const trace = await parseTrace(chunked(bytes(text), seed), { model: m })
      expect([...trace.firstAccess.blocks]).toEqual([2])
    }
  })

  it('maps image reads ("@") through the image order and its base offset', async () => {
    const order = Uint32Array.of(4, 3, 2, 1, 0)
    const text = `${HEADER}\n[1,"@",0,1]\n[2,"@",2048,453]\n[3,"@",4523,1]\n`
    const trace = await parse(text, { imageOrder: order })
    // Slot lengths 1024, 1024, 452, 1024, 1024: bytes 2048..2500 are slots 2 and 3.
    expect([...trace.firstAccess.blocks]).toEqual([4, 1, 2, 0])
    expect([...trace.firstAccess.tMs]).toEqual([1, 2, 2, 3])
    const shifted = `${HEADER}\n[1,"@",100,1]\n[2,"@",2148,453]\n[3,"@",4623,1]\n`
    const based = await parse(shifted, { imageOrder: order, imageBase: 100 })
    expect(based.firstAccess).toEqual(trace.firstAccess)
    expect(slotOffsets(model, order)[5]).toBe(4548)
  })

  it('round-trips: parse(serialise(trace)) gives the same first accesses', async () => {
    const rng = seededRng(42)
    for (let round = 0; round < 150; round++) {
      const m = randomModel(rng, randomInt(rng, 1, 3) * 512)
      const reads = randomReads(rng, m, randomInt(rng, 0, 60))
      const text = serialiseTrace(header(`r${round}`), reads)
      const trace = await parseTrace(bytes(text), { model: m })
      expect(trace.firstAccess, `round ${round}`).toEqual(expectedFirstAccess(m, reads))
      expect(trace.reads).toBe(reads.length)

      // Back to reads of whole blocks, and again: nothing changes.
      const again = serialiseTrace(header(`r${round}`), firstAccessToReads(m, trace.firstAccess))
      const reparsed = await parseTrace(chunked(bytes(again), round), { model: m })
      expect(reparsed.firstAccess).toEqual(trace.firstAccess)
    }
  })
})

describe('parseTrace errors name the line', () => {
  const cases: Array<[string, string, number, RegExp]> = [
    ['an empty trace', '', 1, /header is missing/],
    ['a broken header', '{"format":', 1, /not valid JSON/],
    ['a header that is not an object', '[1]', 1, /must be a JSON object/],
    ['a wrong format', JSON.stringify({ ...header('s'), format: 'x/1' }), 1, /format/],
    ['an unknown header field', JSON.stringify({ ...header('s'), extra: 1 }), 1, /"extra"/],
    ['a missing sessionId', '{"format":"rockit-trace/1","durationMs":1}', 1, /sessionId/],
    ['a long sessionId', JSON.stringify(header('x'.repeat(201))), 1, /sessionId/],
    ['a negative durationMs', JSON.stringify(header('s', -1)), 1, /durationMs/],
    ['a fractional durationMs', JSON.stringify(header('s', 1.5)), 1, /durationMs/],
    ['a missing durationMs', '{"format":"rockit-trace/1","sessionId":"s"}', 1, /durationMs/],
    ['a non-boolean firstSession', JSON.stringify({ ...header('s'), firstSession: 1 }), 1, /first/],
    ['an empty buildName', JSON.stringify({ ...header('s'), buildName: '' }), 1, /buildName/],
    ['a dxfName of no image', JSON.stringify({ ...header('s'), dxfName: 'dxf-2-3' }), 1, /dxfName/],
    ['a dxfName not a string', JSON.stringify({ ...header('s'), dxfName: 2 }), 1, /dxfName/],
    ['broken JSON', `${HEADER}\n[0,"a.bin",0,1]\n[1,"a.bin",0`, 3, /not valid JSON/],
    ['an object line', `${HEADER}\n{"t":1}`, 2, /\[tMs, path, offset, length\]/],
    ['three fields', `${HEADER}\n[0,"a.bin",0]`, 2, /\[tMs, path, offset, length\]/],
    ['a negative time', `${HEADER}\n[-1,"a.bin",0,1]`, 2, /tMs/],
    ['a fractional time', `${HEADER}\n[0.5,"a.bin",0,1]`, 2, /tMs/],
    ['a numeric path', `${HEADER}\n[0,7,0,1]`, 2, /path/],
    ['a negative offset', `${HEADER}\n[0,"a.bin",-1,1]`, 2, /offset/],
    ['a zero length', `${HEADER}\n[0,"a.bin",0,0]`, 2, /length/],
    ['an unknown path', `${HEADER}\n[0,"a.bin",0,1]\n[1,"c.bin",0,1]`, 3, /unknown path "c.bin"/],
    ['a read past a file', `${HEADER}\n[0,"a.bin",2000,501]`, 2, /outside "a.bin"/],
    ['a read of an empty file', `${HEADER}\n[0,"empty.txt",0,1]`, 2, /outside "empty.txt"/],
    ['time going back', `${HEADER}\n[5,"a.bin",0,1]\n[5,"a.bin",0,1]\n[4,"b.bin",0,1]`, 4, /back/],
    ['an image read without an image', `${HEADER}\n[0,"@",0,1]`, 2, /no image/],
  ]
  it.each(cases)('%s', async (_name, text, line, reason) => {
    const error = await traceError(parse(text))
    expect(error.line).toBe(line)
    expect(error.reason).toMatch(reason)
    expect(error.message).toContain(`line ${line}`)
  })

  it('repeats at most 100 characters of a long value, whole characters only', async () => {
    const path = `${'p'.repeat(99)}😀${'q'.repeat(5000)}`
    const error = await traceError(parse(`${HEADER}\n[0,${JSON.stringify(path)},0,1]`))
    expect(error.reason).toBe(`unknown path "${'p'.repeat(99)}…" (${path.length} characters)`)
    const field = await traceError(parse(JSON.stringify({ ...header('s'), [path]: 1 })))
    expect(field.reason).toBe(
      `unknown header field "${'p'.repeat(99)}…" (${path.length} characters)`,
    )
    const short = await traceError(parse(`${HEADER}\n[0,"${'r'.repeat(100)}",0,1]`))
    expect(short.reason).toBe(`unknown path "${'r'.repeat(100)}"`)
  })

  it('a read outside the image', async () => {
    const order = Uint32Array.of(0, 1, 2, 3, 4)
    const error = await traceError(parse(`${HEADER}\n\n[0,"@",4500,49]`, { imageOrder: order }))
    expect(error.line).toBe(3)
    expect(error.reason).toMatch(/outside the image/)
    const based = await traceError(
      parse(`${HEADER}\n[0,"@",99,1]`, { imageOrder: order, imageBase: 100 }),
    )
    expect(based.line).toBe(2)
  })

  it('text that is not UTF-8', async () => {
    const text = new Uint8Array([...bytes(`${HEADER}\n[0,"a`), 0xff, ...bytes('",0,1]\n')])
    expect((await traceError(parseTrace(text, { model }))).line).toBe(2)
  })

  it('an empty body declared as gzip', async () => {
    expect((await traceError(parse('', { gzip: true }))).reason).toMatch(/gzip/)
  })

  it('invalid UTF-8 in the middle of a chunk', async () => {
    const lines = [HEADER, '[0,"a.bin",0,1]', '[1,"a.bin",0,1]', '[2,"a.bin",0,1]']
    const text = bytes(`${lines.join('\n')}\n[3,"b`)
    const broken = new Uint8Array([...text, 0xc3, ...bytes('.bin",0,1]\n[4,"a.bin",0,1]\n')])
    for (const input of [broken, chunked(broken, 3)]) {
      expect((await traceError(parseTrace(input, { model }))).line).toBe(5)
    }
  })

  it('a failing upload is passed on, not blamed on the trace', async () => {
    for (const gzip of [false, true]) {
      const failure = new Error('connection reset')
      const upload = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(gzip ? new Uint8Array(gzipSync(HEADER)).slice(0, 10) : bytes(HEADER))
        },
        pull(controller) {
          controller.error(failure)
        },
      })
      await expect(parseTrace(upload, { model, gzip })).rejects.toBe(failure)
    }
  })

  it('bytes after the end of the gzip data', async () => {
    const text = `${HEADER}\n[0,"a.bin",0,1]\n`
    const zipped = new Uint8Array(gzipSync(text))
    for (const junk of [bytes('junk after the end'), new Uint8Array([0x1f, 0x8b, 1, 2])]) {
      const error = await traceError(parseTrace(new Uint8Array([...zipped, ...junk]), { model }))
      expect(error.reason).toBe(GZIP_BROKEN)
      expect(error.message).toMatch(
        /^line \d+: the gzip data is corrupt or has bytes after its end$/,
      )
      // The text reached line 3 at most; the failing chunk's text is lost (docs/training.md).
      expect(error.line).toBeLessThanOrEqual(3)
    }
  })

  it('corrupt gzip data', async () => {
    const zipped = new Uint8Array(gzipSync(`${HEADER}\n[0,"a.bin",0,1]\n`))
    zipped[zipped.length - 6] ^= 0xff // breaks the CRC
    expect((await traceError(parseTrace(zipped, { model }))).reason).toMatch(/gzip/)
  })
})

describe('parseTrace limits', () => {
  it('refuses more reads than the limit', async () => {
    const text = `${HEADER}\n${'[0,"a.bin",0,1]\n'.repeat(11)}`
    await expect(parse(text, { maxReads: 11 })).resolves.toMatchObject({ reads: 11 })
    const error = await parse(`${text}[0,"a.bin",0,1]\n`, { maxReads: 11 }).catch((e) => e)
    expect(error).toBeInstanceOf(TraceLimitError)
    expect(error.limit).toBe('tooManyReads')
  })

  it('refuses text over the size limit', async () => {
    const text = `${HEADER}\n${'[0,"a.bin",0,1]\n'.repeat(100)}`
    const size = bytes(text).length
    await expect(parse(text, { maxBytes: size })).resolves.toMatchObject({ reads: 100 })
    const error = await parse(text, { maxBytes: size - 1 }).catch((e) => e)
    expect(error).toBeInstanceOf(TraceLimitError)
    expect(error.limit).toBe('tooLarge')
  })

  it('stops a gzip bomb at the limit without inflating the rest', async () => {
    // 256 MiB of blank lines in about 256 KiB of gzip.
    const gzip = createGzip({ level: 9 })
    const compressed: Buffer[] = []
    gzip.on('data', (piece: Buffer) => compressed.push(piece))
    gzip.write(`${HEADER}\n`)
    const blank = Buffer.alloc(1 << 20, 10)
    for (let i = 0; i < 256; i++) if (!gzip.write(blank)) await once(gzip, 'drain')
    gzip.end()
    await once(gzip, 'end')
    const bomb = new Uint8Array(Buffer.concat(compressed))

    // Count what the parser gets out of the platform's DecompressionStream.
    let inflated = 0
    const Original = globalThis.DecompressionStream
    class CountingDecompression {
      readonly writable: WritableStream<BufferSource>
      readonly readable: ReadableStream<Uint8Array>
      constructor(format: CompressionFormat) {
        const inner = new Original(format)
        this.writable = inner.writable
        this.readable = inner.readable.pipeThrough(
          new TransformStream<Uint8Array, Uint8Array>({
            transform(chunk, controller) {
              inflated += chunk.length
              controller.enqueue(chunk)
            },
          }),
        )
      }
    }
    globalThis.DecompressionStream = CountingDecompression as typeof DecompressionStream
    try {
      const error = await parseTrace(bomb, { model, maxBytes: 1 << 20 }).catch((e) => e)
      expect(error).toBeInstanceOf(TraceLimitError)
      expect(error.limit).toBe('tooLarge')
      expect(inflated).toBeGreaterThan(1 << 20)
      expect(inflated).toBeLessThan(16 << 20)
    } finally {
      globalThis.DecompressionStream = Original
    }
  }, 20_000)

  it('handles reads of a big file many times over in bounded time', async () => {
    const big = buildModel(65536, filesFor(65536, [['big.pak', 2 ** 30]])) // 16384 blocks
    const lines = [JSON.stringify(header('big'))]
    for (let i = 0; i < 50_000; i++) lines.push(`[${i},"big.pak",0,${2 ** 30}]`)
    const trace = await parseTrace(bytes(lines.join('\n')), { model: big })
    expect(trace.firstAccess.blocks.length).toBe(16384)
    expect(trace.firstAccess.tMs.every((t) => t === 0)).toBe(true)
  })
})

describe('normalised trace encoding', () => {
  it('round-trips random traces', async () => {
    const rng = seededRng(7)
    for (let round = 0; round < 100; round++) {
      const m = randomModel(rng)
      const head: TraceHeader = {
        ...header(`n${round}`, randomInt(rng, 0, 1e9)),
        firstSession: true,
      }
      const parsed = await parseTrace(bytes(serialiseTrace(head, randomReads(rng, m, 40))), {
        model: m,
      })
      const normalised = { header: head, firstAccess: parsed.firstAccess }
      const encoded = encodeNormalisedTrace(normalised)
      expect(decodeNormalisedTrace(encoded)).toEqual(normalised)
      // Sequential blocks make the encoding small: header plus a few bytes per block.
      expect(encoded.length).toBeLessThan(
        100 + JSON.stringify(head).length + 8 * parsed.firstAccess.blocks.length,
      )
    }
  })

  it('keeps large times and block numbers exact', () => {
    const trace = {
      header: header('big'),
      firstAccess: {
        blocks: Uint32Array.of(4_000_000_000, 0, 4_294_967_295, 1),
        tMs: Uint32Array.of(0, 0, 4_294_967_295, 4_294_967_295),
      },
    }
    expect(decodeNormalisedTrace(encodeNormalisedTrace(trace))).toEqual(trace)
  })

  it('rejects other bytes', () => {
    const good = encodeNormalisedTrace({
      header: header('x'),
      firstAccess: expectedFirstAccess(model, [[0, 'a.bin', 0, 2500]]),
    })
    expect(() => decodeNormalisedTrace(new Uint8Array(20))).toThrow(/magic/)
    expect(() => decodeNormalisedTrace(good.slice(0, good.length - 1))).toThrow(
      /not a normalised trace/,
    )
    expect(() => decodeNormalisedTrace(new Uint8Array([...good, 0]))).toThrow(/trailing/)
  })
})
