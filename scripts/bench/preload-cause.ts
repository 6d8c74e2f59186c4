/**
 * Why a held-out session needs the preload it needs on an image: the read that sets P* (the
 * first access where the image reach minus what the stream delivered is largest), the blocks
 * the session reads that no uploaded session read, and, for the database, which table or
 * index those blocks belong to (sqlite's `dbstat` maps pages to b-trees).
 */
import { spawnSync } from 'node:child_process'
import { createReadStream } from 'node:fs'
import { Readable } from 'node:stream'
import { type BuildModel, blockLengths, modelIndex } from '../../src/engine/build-model'
import { blockEnds } from '../../src/engine/image-layout'
import { BYTES_PER_MBIT } from '../../src/engine/preload'
import { parseTrace } from '../../src/engine/trace-parse'
import type { FirstAccess } from '../../src/engine/trace-types'

/** Where one held-out session's preload comes from, at one bandwidth. */
export interface PreloadCause {
  session: string
  mbit: number
  /** P* on the image, and on the session's own order. */
  preloadBytes: number
  idealBytes: number
  /** The first access that sets P*. */
  critical: { what: string; tMs: number; imageEnd: number; seen: boolean }
  /** Bytes the session reads in all, and of those, bytes no uploaded session read. */
  readBytes: number
  unseenBytes: number
  /** Unseen bytes by file, or by table/index for the database. */
  unseenBy: Record<string, number>
}

/** Reads a trace file into first accesses of `model`'s blocks. */
export async function loadFirstAccess(file: string, model: BuildModel): Promise<FirstAccess> {
  const stream = Readable.toWeb(createReadStream(file)) as ReadableStream<Uint8Array>
  return (await parseTrace(stream, { model })).firstAccess
}

/**
 * Names each block of `dbPath` (a file of the build) by the b-trees whose pages it holds, from
 * `sqlite3`'s dbstat table of `dbFile`.
 */
export function databaseBlockNames(opts: {
  model: BuildModel
  dbPath: string
  dbFile: string
  sqlite3: string
}): Map<number, string> {
  const { model } = opts
  const file = model.files.find((candidate) => candidate.path === opts.dbPath)
  const pages = spawnSync(
    opts.sqlite3,
    ['-readonly', '-separator', '\t', opts.dbFile, 'SELECT name, pageno, pgsize FROM dbstat;'],
    { encoding: 'utf8', maxBuffer: 256 * 2 ** 20 },
  )
  if (!file || pages.status !== 0) throw new Error(`dbstat of ${opts.dbFile}: ${pages.stderr}`)
  const names = new Map<number, Set<string>>()
  for (const line of pages.stdout.trim().split('\n')) {
    const [name, pageno, pgsize] = line.split('\t')
    const block =
      file.firstBlock + Math.floor(((Number(pageno) - 1) * Number(pgsize)) / model.blockSize)
    names.set(block, (names.get(block) ?? new Set()).add(name))
  }
  return new Map([...names].map(([block, set]) => [block, [...set].sort().join('+')]))
}

/**
 * Explains the image's P* for each held-out trace at `mbit`; `blockNames` names blocks more
 * finely than their file (see {@link databaseBlockNames}).
 */
export function preloadCauses(opts: {
  model: BuildModel
  order: Uint32Array
  heldOut: Array<{ name: string; trace: FirstAccess }>
  uploaded: FirstAccess[]
  mbit: number
  blockNames?: Map<number, string>
}): PreloadCause[] {
  const { model } = opts
  const ends = blockEnds(model, opts.order)
  const lengths = blockLengths(model)
  const { fileOfBlock } = modelIndex(model)
  const seen = new Uint8Array(model.blockCount)
  for (const trace of opts.uploaded) for (const block of trace.blocks) seen[block] = 1
  const bandwidth = opts.mbit * BYTES_PER_MBIT
  const describe = (block: number) =>
    opts.blockNames?.get(block) ?? model.files[fileOfBlock[block]].path

  return opts.heldOut.map(({ name, trace }) => {
    let reach = 0
    let own = 0
    let preload = 0
    let ideal = 0
    let critical = -1
    let readBytes = 0
    let unseenBytes = 0
    const unseenBy: Record<string, number> = {}
    trace.blocks.forEach((block, i) => {
      const seconds = trace.tMs[i] / 1000
      reach = Math.max(reach, ends[block])
      own += lengths[block]
      readBytes += lengths[block]
      if (reach - bandwidth * seconds > preload) {
        preload = reach - bandwidth * seconds
        critical = i
      }
      ideal = Math.max(ideal, own - bandwidth * seconds)
      if (!seen[block]) {
        unseenBytes += lengths[block]
        const what = describe(block)
        unseenBy[what] = (unseenBy[what] ?? 0) + lengths[block]
      }
    })
    const block = critical >= 0 ? trace.blocks[critical] : 0
    return {
      session: name,
      mbit: opts.mbit,
      preloadBytes: preload,
      idealBytes: ideal,
      critical: {
        what: critical >= 0 ? describe(block) : 'none',
        tMs: critical >= 0 ? trace.tMs[critical] : 0,
        imageEnd: critical >= 0 ? ends[block] : 0,
        seen: critical >= 0 && seen[block] === 1,
      },
      readBytes,
      unseenBytes,
      unseenBy,
    }
  })
}
