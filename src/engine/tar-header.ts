/**
 * Reading single tar records: ustar/GNU headers, pax extended records, and telling a tar from
 * other files by their first bytes. The streaming state lives in `tar-scan.ts`.
 */

/** Size of a tar record: headers, and the unit data is padded to. */
export const TAR_RECORD = 512

/** Why a tar could not be read. */
export type TarScanErrorCode =
  | 'fileReadFailed'
  | 'unsafePath'
  | 'truncated'
  | 'badChecksum'
  | 'badHeader'
  | 'unsupportedEntry'

/** A tar that cannot be turned into a build; `offset` is where in the tar it went wrong. */
export class TarScanError extends Error {
  override name = 'TarScanError'
  code: TarScanErrorCode
  filename?: string
  typeExpected?: string
  typeDetected?: string
  offset?: number

  constructor(
    code: TarScanErrorCode,
    message: string,
    facts: {
      filename?: string
      typeExpected?: string
      typeDetected?: string
      offset?: number
    } = {},
  ) {
    super(message)
    this.code = code
    Object.assign(this, facts)
  }
}

/** The fields of one header record the scanner needs, names still raw (not normalised). */
export interface TarHeader {
  path: string
  linkName: string
  type: string
  mode: number
  size: number
  mtimeSec: number
}

/** Attributes that earlier pax ('x') or GNU ('L', 'K') entries set for the next entry. */
export interface PendingAttributes {
  path?: string
  linkPath?: string
  size?: number
  mtimeSec?: number
}

const utf8 = new TextDecoder('utf-8')

/** True when all 512 bytes are zero (half of the end-of-archive marker). */
export function isZeroRecord(record: Uint8Array): boolean {
  for (let i = 0; i < TAR_RECORD; i++) if (record[i] !== 0) return false
  return true
}

/** Checks the header checksum, accepting the historic signed-byte sum as tar itself does. */
export function checksumMatches(record: Uint8Array): boolean {
  const stored = readOctal(record, 148, 8)
  if (stored === undefined) return false
  let unsigned = 0
  let signed = 0
  for (let i = 0; i < TAR_RECORD; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : record[i]
    unsigned += byte
    signed += byte > 127 ? byte - 256 : byte
  }
  return stored === unsigned || stored === signed
}

/** Parses a header whose checksum was verified; `offset` only serves error messages. */
export function parseHeader(record: Uint8Array, offset: number): TarHeader {
  const magic = readString(record, 257, 6)
  const version = readString(record, 263, 2)
  let path = readString(record, 0, 100)
  // Only POSIX ustar has a prefix field; GNU ('ustar  ') keeps other data at that place.
  if (magic === 'ustar' && version === '00') {
    const prefix = readString(record, 345, 155)
    if (prefix) path = `${prefix}/${path}`
  }
  const numeric = (at: number, length: number, field: string) => {
    const value = readNumber(record, at, length)
    if (value === undefined) {
      throw new TarScanError('badHeader', `bad ${field} field in the tar header at ${offset}`, {
        filename: path,
        offset,
      })
    }
    return value
  }
  return {
    path,
    linkName: readString(record, 157, 100),
    type: String.fromCharCode(record[156]),
    mode: numeric(100, 8, 'mode') & 0o7777,
    size: numeric(124, 12, 'size'),
    mtimeSec: numeric(136, 12, 'mtime'),
  }
}

/**
 * Applies pax extended records ("<length> <key>=<value>\n") to `pending`. Only the keys that
 * change what a build holds matter; sparse files are refused rather than stored wrongly.
 */
export function applyPaxRecords(bytes: Uint8Array, pending: PendingAttributes, offset: number) {
  const bad = (why: string) =>
    new TarScanError('badHeader', `bad pax header at ${offset}: ${why}`, { offset })
  let at = 0
  while (at < bytes.length) {
    if (bytes[at] === 0) break
    let space = at
    while (space < bytes.length && bytes[space] !== 0x20) space++
    const length = Number(utf8.decode(bytes.subarray(at, space)))
    if (!Number.isInteger(length) || length <= space - at || at + length > bytes.length) {
      throw bad('record length')
    }
    const record = utf8.decode(bytes.subarray(space + 1, at + length - 1))
    if (bytes[at + length - 1] !== 0x0a) throw bad('record does not end in a newline')
    const equals = record.indexOf('=')
    if (equals < 1) throw bad('record without a key')
    applyPaxRecord(record.slice(0, equals), record.slice(equals + 1), pending, offset)
    at += length
  }
}

function applyPaxRecord(key: string, value: string, pending: PendingAttributes, offset: number) {
  if (key === 'path') pending.path = value
  else if (key === 'linkpath') pending.linkPath = value
  else if (key === 'size') {
    if (!/^\d+$/.test(value)) {
      throw new TarScanError('badHeader', `bad pax size at ${offset}: ${value}`, { offset })
    }
    pending.size = Number(value)
  } else if (key === 'mtime') {
    const seconds = Math.floor(Number(value))
    if (Number.isFinite(seconds)) pending.mtimeSec = seconds
  } else if (key.startsWith('GNU.sparse.')) {
    throw new TarScanError('unsupportedEntry', `sparse file in the tar at ${offset}`, { offset })
  }
}

/** Decodes a NUL-terminated text field (UTF-8: what pax mandates and GNU tar writes). */
export function readString(record: Uint8Array, at: number, length: number): string {
  let end = at
  while (end < at + length && record[end] !== 0) end++
  return utf8.decode(record.subarray(at, end))
}

/** Decodes a UTF-8 name from the data of a GNU long name entry (NUL-terminated). */
export function readLongName(bytes: Uint8Array): string {
  return readString(bytes, 0, bytes.length)
}

function readOctal(record: Uint8Array, at: number, length: number): number | undefined {
  let value = 0
  let digits = 0
  let i = at
  while (i < at + length && record[i] === 0x20) i++
  for (; i < at + length; i++) {
    const byte = record[i]
    if (byte === 0 || byte === 0x20) break
    if (byte < 0x30 || byte > 0x37) return undefined
    value = value * 8 + (byte - 0x30)
    digits++
  }
  return digits === 0 ? 0 : value
}

/** Octal, or GNU base-256 (high bit set) for values that do not fit, such as files > 8 GiB. */
function readNumber(record: Uint8Array, at: number, length: number): number | undefined {
  const first = record[at]
  if ((first & 0x80) === 0) return readOctal(record, at, length)
  // Base-256 is two's complement: a leading 0xff marks a negative number (an mtime before 1970).
  const negative = first === 0xff
  let magnitude = 0
  for (let i = at; i < at + length; i++) {
    const byte = i === at ? first & 0x7f : record[i]
    magnitude = magnitude * 256 + (negative ? byte ^ (i === at ? 0x7f : 0xff) : byte)
  }
  if (!Number.isSafeInteger(magnitude)) return undefined
  return negative ? -(magnitude + 1) : magnitude
}

const SIGNATURES: Array<[string, number[]]> = [
  ['gzip', [0x1f, 0x8b]],
  ['zip', [0x50, 0x4b, 0x03, 0x04]],
  ['zip', [0x50, 0x4b, 0x05, 0x06]],
  ['png', [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]],
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['7z', [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c]],
  ['pdf', [0x25, 0x50, 0x44, 0x46]],
  ['elf', [0x7f, 0x45, 0x4c, 0x46]],
]

/**
 * Names what a file that is not a tar looks like from its first bytes: 'gzip', 'zip', 'png',
 * 'bzip2', 'xz', 'zstd', '7z', 'pdf', 'elf', 'text', 'empty' or 'unknown'.
 */
export function detectFileType(head: Uint8Array): string {
  if (head.length === 0) return 'empty'
  for (const [type, magic] of SIGNATURES) {
    if (head.length >= magic.length && magic.every((byte, i) => head[i] === byte)) return type
  }
  const sample = head.subarray(0, TAR_RECORD)
  const printable = sample.every((b) => b >= 0x20 || b === 0x09 || b === 0x0a || b === 0x0d)
  if (printable) {
    try {
      new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(sample, { stream: true })
      return 'text'
    } catch {
      return 'unknown'
    }
  }
  return 'unknown'
}
