/**
 * Seeded random builds and game-like sessions for the engine's tests. Everything derives from
 * one integer seed, so a failing case can be replayed from the seed in its message.
 */
import { type BuildFile, type BuildModel, buildModel } from '../../src/engine/build-model'
import type { TraceHeader, TraceRead } from '../../src/engine/trace-types'

/** A seeded PRNG (mulberry32): floats in [0, 1). */
export type Rng = () => number

export function seededRng(seed: number): Rng {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}

export function randomInt(rng: Rng, min: number, max: number): number {
  return min + Math.floor(rng() * (max - min + 1))
}

/** Files in tar order with contiguous block numbering. */
export function filesFor(blockSize: number, sizes: Array<[path: string, size: number]>) {
  const files: BuildFile[] = []
  let firstBlock = 0
  for (const [path, size] of sizes) {
    const blockCount = Math.ceil(size / blockSize)
    files.push({ path, size, firstBlock, blockCount })
    firstBlock += blockCount
  }
  return files
}

/** A small random build: a few files, some empty, sizes not multiples of the block size. */
export function randomModel(rng: Rng, blockSize = 1024): BuildModel {
  const sizes: Array<[string, number]> = []
  const count = randomInt(rng, 1, 12)
  for (let i = 0; i < count; i++) {
    const size = rng() < 0.1 ? 0 : randomInt(rng, 1, blockSize * 20)
    sizes.push([`dir${i % 3}/file${i}.bin`, size])
  }
  if (sizes.every(([, size]) => size === 0)) sizes.push(['last.bin', blockSize + 1])
  return buildModel(blockSize, filesFor(blockSize, sizes))
}

/** Random time-ordered reads inside the build's files (none of an empty file). */
export function randomReads(rng: Rng, model: BuildModel, count: number): TraceRead[] {
  const files = model.files.filter((file) => file.size > 0)
  const reads: TraceRead[] = []
  let t = 0
  for (let i = 0; i < count; i++) {
    t += rng() < 0.3 ? 0 : randomInt(rng, 0, 500)
    const file = files[randomInt(rng, 0, files.length - 1)]
    const offset = randomInt(rng, 0, file.size - 1)
    const length = randomInt(rng, 1, Math.min(file.size - offset, model.blockSize * 3))
    reads.push([t, file.path, offset, length])
  }
  return reads
}

export function header(sessionId: string, durationMs = 60_000): TraceHeader {
  return { format: 'rockit-trace/1', sessionId, durationMs }
}

/** Shape of a synthetic game (sizes in MiB). */
export interface GameShape {
  blockSize: number
  levels: number
  levelMiB: number
  startupMiB: number
  commonMiB: number
  unusedMiB: number
}

/** A game: engine, startup paks, levels, a shared asset pak, streamed music, unused data. */
export function gameModel(shape: GameShape): BuildModel {
  const mib = 1024 * 1024
  const sizes: Array<[string, number]> = [
    ['bin/game.exe', 40 * mib + 1234],
    ['bin/engine.dll', 12 * mib + 77],
  ]
  for (let level = 0; level < shape.levels; level++) {
    sizes.push([`levels/level${level}.pak`, shape.levelMiB * mib + level * 4099])
  }
  sizes.push(['data/startup0.pak', (shape.startupMiB / 2) * mib + 17])
  sizes.push(['data/common.pak', shape.commonMiB * mib])
  sizes.push(['data/startup1.pak', (shape.startupMiB / 2) * mib + 5])
  sizes.push(['audio/music.ogg', 120 * mib])
  for (let i = 0; i < 4; i++) sizes.push([`unused/lang${i}.pak`, (shape.unusedMiB / 4) * mib])
  return buildModel(shape.blockSize, filesFor(shape.blockSize, sizes))
}

/** The fixed start-up script every session follows (with jitter): [ms, path, offset, length]. */
function startupScript(rng: Rng, model: BuildModel): TraceRead[] {
  const script: TraceRead[] = []
  let t = 0
  const sequential = (path: string, chunk: number) => {
    const file = model.files.find((f) => f.path === path)!
    for (let offset = 0; offset < file.size; offset += chunk) {
      script.push([t, path, offset, Math.min(chunk, file.size - offset)])
      t += randomInt(rng, 1, 20)
    }
  }
  sequential('bin/game.exe', 1 << 20)
  sequential('bin/engine.dll', 1 << 20)
  // The start-up paks are read in an order of their own, not the tar order.
  const paks = ['data/startup1.pak', 'data/startup0.pak']
  for (const path of paks) {
    const file = model.files.find((f) => f.path === path)!
    const pieces = Math.ceil(file.size / (1 << 20))
    const visit = Array.from({ length: pieces }, (_, i) => i)
    for (let i = pieces - 1; i > 0; i--) {
      const j = randomInt(rng, 0, i)
      ;[visit[i], visit[j]] = [visit[j], visit[i]]
    }
    for (const piece of visit) {
      const offset = piece << 20
      script.push([t, path, offset, Math.min(1 << 20, file.size - offset)])
      t += randomInt(rng, 5, 40)
    }
  }
  return script
}

/** Options of {@link gameSessions}. */
export interface SessionOptions {
  sessions: number
  /** Fraction of sessions that skip the menu and load a level at once. */
  speedrunners?: number
  /** Scattered reads of the shared asset pak per session (default 200). */
  scatteredReads?: number
}

/**
 * Game-like sessions on a {@link gameModel}: the shared start-up read in mostly the same order
 * with jitter and machine speed, a menu pause, one or two levels chosen by popularity, music
 * streamed over the session, and scattered reads of a shared asset pak (popular parts more).
 */
export function gameSessions(
  rng: Rng,
  model: BuildModel,
  shape: GameShape,
  opts: SessionOptions,
): Array<{ header: TraceHeader; reads: TraceRead[] }> {
  const script = startupScript(rng, model)
  const common = model.files.find((f) => f.path === 'data/common.pak')!
  const commonChunks = Math.floor(common.size / (256 * 1024))
  const sessions: Array<{ header: TraceHeader; reads: TraceRead[] }> = []
  for (let s = 0; s < opts.sessions; s++) {
    const reads: TraceRead[] = []
    const speed = 0.7 + rng() * 0.7
    for (const [t, path, offset, length] of script) {
      if (rng() < 0.03) continue
      reads.push([Math.round(t * speed + rng() * 300), path, offset, length])
    }
    let t = reads.reduce((max, read) => Math.max(max, read[0]), 0)
    const speedrun = rng() < (opts.speedrunners ?? 0)
    t += speedrun ? 500 : randomInt(rng, 5_000, 60_000)
    const durationMs = t + randomInt(rng, 300_000, 1_200_000)
    const levelReads: TraceRead[] = []
    const levelCount = rng() < 0.3 ? 2 : 1
    for (let n = 0; n < levelCount; n++) {
      // Zipf-like popularity: level 0 is the most played.
      const level = Math.min(shape.levels - 1, Math.floor(shape.levels * rng() ** 2.5))
      const file = model.files.find((f) => f.path === `levels/level${level}.pak`)!
      let lt = t + n * randomInt(rng, 200_000, 400_000)
      for (let offset = 0; offset < file.size; offset += 1 << 20) {
        levelReads.push([lt, file.path, offset, Math.min(1 << 20, file.size - offset)])
        lt += Math.round(randomInt(rng, 10, 60) * speed)
      }
    }
    for (let i = 0; i < (opts.scatteredReads ?? 200); i++) {
      const chunk = Math.floor(commonChunks * rng() ** 3)
      const at = t + Math.floor(rng() * (durationMs - t))
      levelReads.push([at, common.path, chunk * 256 * 1024, 256 * 1024])
    }
    const music = model.files.find((f) => f.path === 'audio/music.ogg')!
    for (let offset = 0, mt = 2_000; offset < music.size; offset += 256 * 1024, mt += 4_000) {
      if (mt > durationMs) break
      levelReads.push([mt, music.path, offset, 256 * 1024])
    }
    reads.push(...levelReads)
    reads.sort((a, b) => a[0] - b[0])
    sessions.push({ header: { ...header(`session-${s}`, durationMs) }, reads })
  }
  return sessions
}

const PAGE = 4096

/** Where the tables and indexes of {@link databaseModel}'s database are, in 4 KiB pages. */
export interface DatabaseLayout {
  /** Page of each package's row. */
  packageRow: number[]
  /** First page and page count of each package's rows in the files, copyrights, changes tables. */
  files: Array<[number, number]>
  copyrights: Array<[number, number]>
  changes: Array<[number, number]>
  /** Indexes after the tables: first page and page count. */
  filesByPackage: [number, number]
  filesByPath: [number, number]
  changesByPackage: [number, number]
}

/**
 * A program that queries a database, shaped like the sqlite benchmark's (docs/benchmarks.md):
 * `bin/app` and `lib/libc.so` read whole, `data/world.db` of about 59 MiB read in 4 KiB pages,
 * `lib/loader.so` never read; blocks of 16 KiB. The database holds its tables one after the
 * other (files, copyrights, changes: 11, 18 and 20 MiB), the small packages table spread
 * through them (a page every 150 or so), then its indexes (the path index is 8 MiB).
 */
export function databaseModel(): { model: BuildModel; layout: DatabaseLayout } {
  const rng = seededRng(2024)
  const layout: DatabaseLayout = {
    packageRow: [],
    files: [],
    copyrights: [],
    changes: [],
    filesByPackage: [0, 0],
    filesByPath: [0, 0],
    changesByPackage: [0, 0],
  }
  const packages = 700
  let next = 1 // page 0 is the schema
  const rowPages: number[] = []
  for (const [table, most] of [
    [layout.files, 7],
    [layout.copyrights, 12],
    [layout.changes, 14],
  ] as const) {
    for (let pkg = 0; pkg < packages; pkg++) {
      if (rng() < 1 / 25) rowPages.push(next++)
      const pages = randomInt(rng, 1, most)
      table.push([next, pages])
      next += pages
    }
  }
  for (let pkg = 0; pkg < packages; pkg++) {
    layout.packageRow.push(rowPages[Math.floor((pkg * rowPages.length) / packages)])
  }
  for (const [index, pages] of [
    ['filesByPackage', 300],
    ['filesByPath', 2048],
    ['changesByPackage', 85],
  ] as const) {
    layout[index] = [next, pages]
    next += pages
  }
  const mib = 1024 * 1024
  const model = buildModel(
    16 * 1024,
    filesFor(16 * 1024, [
      ['bin/app', 2 * mib + 300],
      ['data/world.db', next * PAGE],
      ['lib/libc.so', 2 * mib + 5000],
      ['lib/loader.so', 200 * 1024],
    ]),
  )
  return { model, layout }
}

/**
 * Sessions of a few tens of milliseconds on {@link databaseModel}, like the sqlite benchmark's:
 * load the program, read the schema, every package row and the package index of the files
 * table (the same start-up statements every time), then 2 to 5 lookups of popular packages
 * (half with the file list), 1 to 3 owners of a path (the root, an interior page and a random
 * leaf of the path index, then the row's page), in 30 % of sessions a changelog (an index
 * page, the first changes pages of a package), in 10 % a licence search over the copyrights
 * of a tenth of the packages. At these times every page a session reads must be in its
 * preload, and most sessions read a leaf of the path index that no other session read.
 */
export function databaseSessions(
  rng: Rng,
  shape: { model: BuildModel; layout: DatabaseLayout },
  count: number,
): Array<{ header: TraceHeader; reads: TraceRead[] }> {
  const { model, layout } = shape
  const db = 'data/world.db'
  const packages = layout.packageRow.length
  const sessions: Array<{ header: TraceHeader; reads: TraceRead[] }> = []
  for (let s = 0; s < count; s++) {
    const reads: TraceRead[] = []
    let t = 0
    const page = (index: number) => reads.push([t, db, index * PAGE, PAGE])
    const range = ([first, pages]: [number, number], upTo = pages) => {
      for (let i = 0; i < Math.min(pages, upTo); i++) page(first + i)
    }
    for (const path of ['bin/app', 'lib/libc.so']) {
      reads.push([t, path, 0, model.files.find((f) => f.path === path)!.size])
      t += randomInt(rng, 1, 2)
    }
    page(0)
    for (const row of new Set(layout.packageRow)) page(row)
    range(layout.filesByPackage)
    t += randomInt(rng, 2, 5)
    for (let n = randomInt(rng, 2, 5); n > 0; n--) {
      const pkg = Math.floor(packages * rng() ** 3)
      page(layout.packageRow[pkg])
      if (rng() < 0.5) range(layout.files[pkg])
      t += randomInt(rng, 1, 3)
    }
    for (let n = randomInt(rng, 1, 3); n > 0; n--) {
      const [first, pages] = layout.filesByPath
      const leaf = randomInt(rng, 17, pages - 1)
      page(first)
      page(first + 1 + (leaf % 16))
      page(first + leaf)
      const [rows, rowPages] = layout.files[randomInt(rng, 0, packages - 1)]
      page(rows + randomInt(rng, 0, rowPages - 1))
      t += randomInt(rng, 1, 4)
    }
    if (rng() < 0.3) {
      const pkg = randomInt(rng, 0, packages - 1)
      const [first, pages] = layout.changesByPackage
      page(first + Math.floor((pkg * pages) / packages))
      range(layout.changes[pkg], 3)
      t += randomInt(rng, 2, 5)
    }
    if (rng() < 0.1) {
      const section = randomInt(rng, 0, 9)
      for (let pkg = section; pkg < packages; pkg += 10) range(layout.copyrights[pkg])
      t += randomInt(rng, 5, 15)
    }
    sessions.push({ header: header(`query-${s}`, t + 2), reads })
  }
  return sessions
}
