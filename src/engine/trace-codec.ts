/**
 * Storage forms of a trace: the compact binary kept in R2 beside the original upload, and
 * NDJSON text for tests and the CLI.
 *
 * Binary layout (little-endian): 'RKNT', version byte 1, 3 zero bytes, u32 header length, the
 * header as UTF-8 JSON, u32 count, then per first access a varint of the time step and a
 * zigzag varint of the block step. Sequential reads make both steps tiny, so a block costs
 * about two bytes.
 */
import type { BuildModel } from './build-model'
import { modelIndex } from './build-model'
import type { FirstAccess, NormalisedTrace, TraceHeader, TraceRead } from './trace-types'

const MAGIC = [0x52, 0x4b, 0x4e, 0x54]
const VERSION = 1

function writeVarint(bytes: Uint8Array, at: number, value: number): number {
  let rest = value
  while (rest >= 0x80) {
    bytes[at++] = (rest % 0x80) | 0x80
    rest = Math.floor(rest / 0x80)
  }
  bytes[at++] = rest
  return at
}

/**
 * Encodes a normalised trace.
 *
 * @example decodeNormalisedTrace(encodeNormalisedTrace(trace)) // equal to trace
 */
export function encodeNormalisedTrace(trace: NormalisedTrace): Uint8Array {
  const { blocks, tMs } = trace.firstAccess
  const header = new TextEncoder().encode(JSON.stringify(trace.header))
  const bytes = new Uint8Array(16 + header.length + blocks.length * 10)
  const view = new DataView(bytes.buffer)
  bytes.set(MAGIC)
  bytes[4] = VERSION
  view.setUint32(8, header.length, true)
  bytes.set(header, 12)
  view.setUint32(12 + header.length, blocks.length, true)

  let at = 16 + header.length
  let lastT = 0
  let lastBlock = 0
  for (let i = 0; i < blocks.length; i++) {
    const step = blocks[i] - lastBlock
    at = writeVarint(bytes, at, tMs[i] - lastT)
    at = writeVarint(bytes, at, step >= 0 ? step * 2 : -step * 2 - 1)
    lastT = tMs[i]
    lastBlock = blocks[i]
  }
  return bytes.slice(0, at)
}

/** Decodes {@link encodeNormalisedTrace}'s output; throws a RangeError on anything else. */
export function decodeNormalisedTrace(bytes: Uint8Array): NormalisedTrace {
  const corrupt = (why: string) => new RangeError(`not a normalised trace: ${why}`)
  if (bytes.length < 16 || MAGIC.some((byte, i) => bytes[i] !== byte)) throw corrupt('magic')
  if (bytes[4] !== VERSION) throw corrupt(`version ${bytes[4]}`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const headerLength = view.getUint32(8, true)
  if (16 + headerLength > bytes.length) throw corrupt('header length')
  const header = JSON.parse(
    new TextDecoder().decode(bytes.subarray(12, 12 + headerLength)),
  ) as TraceHeader
  const count = view.getUint32(12 + headerLength, true)
  if (count > (bytes.length - 16 - headerLength) / 2) throw corrupt('count')

  const blocks = new Uint32Array(count)
  const tMs = new Uint32Array(count)
  let at = 16 + headerLength
  const readVarint = () => {
    let value = 0
    let scale = 1
    for (;;) {
      if (at >= bytes.length || scale > 2 ** 35) throw corrupt('truncated')
      const byte = bytes[at++]
      value += (byte & 0x7f) * scale
      if (byte < 0x80) return value
      scale *= 0x80
    }
  }
  let t = 0
  let block = 0
  for (let i = 0; i < count; i++) {
    t += readVarint()
    const zigzag = readVarint()
    block += zigzag % 2 === 0 ? zigzag / 2 : -(zigzag + 1) / 2
    tMs[i] = t
    blocks[i] = block
  }
  if (at !== bytes.length) throw corrupt('trailing bytes')
  return { header, firstAccess: { blocks, tMs } }
}

/**
 * Writes a trace file (`rockit-trace/1` NDJSON, one line per value, ending in a newline).
 *
 * @example serialiseTrace(header, [[0, 'game.exe', 0, 4096]])
 */
export function serialiseTrace(header: TraceHeader, reads: Iterable<TraceRead>): string {
  const lines = [JSON.stringify(header)]
  for (const read of reads) lines.push(JSON.stringify(read))
  return lines.join('\n') + '\n'
}

/**
 * Turns first accesses back into reads, one whole block per read, by path. Parsing the result
 * gives the same first accesses again.
 */
export function firstAccessToReads(model: BuildModel, firstAccess: FirstAccess): TraceRead[] {
  const { fileOfBlock } = modelIndex(model)
  const reads: TraceRead[] = []
  for (let i = 0; i < firstAccess.blocks.length; i++) {
    const block = firstAccess.blocks[i]
    const file = model.files[fileOfBlock[block]]
    const offset = (block - file.firstBlock) * model.blockSize
    reads.push([firstAccess.tMs[i], file.path, offset, model.blockLength(block)])
  }
  return reads
}
