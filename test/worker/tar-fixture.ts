/**
 * A tiny ustar writer for the build tests. Worker tests run inside workerd, where there is no
 * child_process to call /usr/bin/tar, and checked-in binary fixtures would hide what a test is
 * about; writing the few header fields by hand keeps every tar visible in the test that uses
 * it, including broken ones tar refuses to make (a `..` path, a cut-off file). The engine's own
 * tests check real GNU/pax tars made by /usr/bin/tar. Plain TypeScript: the Node-side download
 * server (build-server-global-setup.ts) serves tars made by the same code.
 */

export interface TarEntry {
  path: string
  /** File content; absent for a folder or a link. */
  data?: Uint8Array | string
  type?: 'file' | 'dir' | 'symlink'
  linkTarget?: string
  mode?: number
  mtimeSec?: number
}

const RECORD = 512
const encoder = new TextEncoder()

function writeText(header: Uint8Array, at: number, length: number, text: string) {
  const bytes = encoder.encode(text)
  if (bytes.length > length) throw new Error(`tar field too long: ${text}`)
  header.set(bytes, at)
}

function writeOctal(header: Uint8Array, at: number, length: number, value: number) {
  writeText(header, at, length, `${value.toString(8).padStart(length - 1, '0')}\0`)
}

/** One ustar header record; names over 100 bytes go to the prefix field. */
export function ustarHeader(entry: TarEntry, size: number): Uint8Array {
  const header = new Uint8Array(RECORD)
  let name = entry.path
  let prefix = ''
  if (encoder.encode(name).length > 100) {
    const cut = name.lastIndexOf('/')
    prefix = name.slice(0, cut)
    name = name.slice(cut + 1)
  }
  const type = entry.type ?? 'file'
  writeText(header, 0, 100, name)
  writeOctal(header, 100, 8, entry.mode ?? (type === 'dir' ? 0o755 : 0o644))
  writeOctal(header, 108, 8, 1000)
  writeOctal(header, 116, 8, 1000)
  writeOctal(header, 124, 12, size)
  writeOctal(header, 136, 12, entry.mtimeSec ?? 1_700_000_000)
  header[156] = (type === 'dir' ? '5' : type === 'symlink' ? '2' : '0').charCodeAt(0)
  writeText(header, 157, 100, entry.linkTarget ?? '')
  writeText(header, 257, 6, 'ustar\0')
  writeText(header, 263, 2, '00')
  writeText(header, 265, 32, 'builder')
  writeText(header, 297, 32, 'builder')
  writeText(header, 345, 155, prefix)
  header.fill(0x20, 148, 156)
  const sum = header.reduce((total, byte) => total + byte, 0)
  writeText(header, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `)
  return header
}

const padding = (size: number) => (RECORD - (size % RECORD)) % RECORD

/**
 * A ustar archive of `entries`, closed by two zero records and padded to 10 KiB like tar does.
 * `end: false` leaves the end marker out (to cut the tar short).
 */
export function makeTar(entries: TarEntry[], options: { end?: boolean } = {}): Uint8Array {
  const pieces: Uint8Array[] = []
  for (const entry of entries) {
    const data = typeof entry.data === 'string' ? encoder.encode(entry.data) : entry.data
    const size = data?.length ?? 0
    pieces.push(ustarHeader(entry, size))
    if (data && size) pieces.push(data, new Uint8Array(padding(size)))
  }
  if (options.end !== false) {
    const used = pieces.reduce((sum, piece) => sum + piece.length, 0) + 2 * RECORD
    pieces.push(new Uint8Array(2 * RECORD + ((10240 - (used % 10240)) % 10240)))
  }
  const total = pieces.reduce((sum, piece) => sum + piece.length, 0)
  const tar = new Uint8Array(total)
  let at = 0
  for (const piece of pieces) {
    tar.set(piece, at)
    at += piece.length
  }
  return tar
}

/** Seeded bytes (xorshift32): the same content on every run and on both sides of a test. */
export function seededBytes(seed: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length)
  let state = seed >>> 0 || 1
  for (let i = 0; i < length; i++) {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    bytes[i] = state & 0xff
  }
  return bytes
}

/** A small game-like build: folders, text, an empty file, a multi-block pack, a link. */
export function smallBuildEntries(seed = 1): TarEntry[] {
  return [
    { path: 'game', type: 'dir' },
    { path: 'game/readme.txt', data: `version ${seed}\n` },
    { path: 'game/empty.cfg', data: '' },
    { path: 'game/data', type: 'dir' },
    { path: 'game/data/level1.pak', data: seededBytes(seed, 150_000) },
    { path: 'game/data/level2.pak', data: seededBytes(seed + 100, 70_000) },
    { path: 'game/bin', type: 'dir' },
    { path: 'game/bin/run.sh', data: '#!/bin/sh\necho run\n', mode: 0o755 },
    { path: 'game/start', type: 'symlink', linkTarget: 'bin/run.sh' },
  ]
}

/** Tars the download server offers, by name; tests rebuild the same bytes to compare. */
export function servedTars(): Record<string, Uint8Array> {
  return {
    'small.tar': makeTar(smallBuildEntries(1)),
    // Over 8 MiB so that a download needs two multipart parts.
    'large.tar': makeTar([
      { path: 'big.bin', data: seededBytes(77, 9 * 1024 * 1024 + 12_345) },
      { path: 'tail.txt', data: 'the end\n' },
    ]),
  }
}
