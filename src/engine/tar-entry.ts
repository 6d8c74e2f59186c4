/**
 * What one tar entry becomes in a build: a file, folder or link with a safe normalised path,
 * or nothing (the root folder, a device, a fifo). Refuses entries that could escape the build.
 */
import { detectFileType, type PendingAttributes, type TarHeader, TarScanError } from './tar-header'
import { checkSymlinkTarget, hardLinkAsSymlink, normaliseEntryPath } from './tar-path'

/** An entry the build keeps; hard links become symlinks with a relative target. */
export interface KeptEntry {
  action: 'keep'
  kind: 'file' | 'dir' | 'symlink'
  path: string
  linkTarget?: string
  size: number
  mode: number
  mtimeSec: number
}

/** An entry the build leaves out; its `size` data bytes are skipped, `warning` says why. */
export interface SkippedEntry {
  action: 'skip'
  size: number
  warning?: string
  path: string
}

/** Decides what the entry of `header` becomes, with the pax/GNU attributes before it. */
export function resolveEntry(
  header: TarHeader,
  pending: PendingAttributes,
  offset: number,
): KeptEntry | SkippedEntry {
  const size = pending.size ?? header.size
  const rawPath = pending.path ?? header.path
  const kind = entryKind(header.type, rawPath)
  if (kind === 'unsupported') {
    throw new TarScanError('unsupportedEntry', `unsupported tar entry type '${header.type}'`, {
      filename: rawPath,
      offset,
    })
  }
  if (kind === 'skip') {
    const warning =
      header.type === 'g'
        ? undefined
        : `${rawPath}: tar entry type '${header.type}' (not a file, folder or link) left out`
    return { action: 'skip', size, warning, path: rawPath }
  }

  const unsafe = (why: string) =>
    new TarScanError('unsafePath', `unsafe path in the tar: ${rawPath} (${why})`, {
      filename: rawPath,
      offset,
    })
  const path = normaliseEntryPath(rawPath)
  if (path === undefined) throw unsafe('absolute or leaves the build')
  if (path === '') {
    if (kind !== 'dir') throw unsafe('no name')
    return { action: 'skip', size, path: rawPath }
  }
  const entry: KeptEntry = {
    action: 'keep',
    kind: kind === 'hardlink' ? 'symlink' : kind,
    path,
    size,
    mode: header.mode,
    mtimeSec: pending.mtimeSec ?? header.mtimeSec,
  }
  if (kind === 'symlink' || kind === 'hardlink') {
    const target = pending.linkPath ?? header.linkName
    const linkTarget =
      kind === 'symlink' ? checkSymlinkTarget(path, target) : hardLinkAsSymlink(path, target)
    if (linkTarget === undefined) throw unsafe(`link to ${target} leaves the build`)
    entry.linkTarget = linkTarget
  }
  return entry
}

function entryKind(type: string, rawPath: string) {
  switch (type) {
    case '0':
    case '7':
      return 'file'
    case '\0':
      return rawPath.endsWith('/') ? 'dir' : 'file'
    case '5':
      return 'dir'
    case '2':
      return 'symlink'
    case '1':
      return 'hardlink'
    case 'S':
    case 'M':
      return 'unsupported'
    default:
      return 'skip'
  }
}

/** The error for a build that is not a tar at all, naming what it looks like. */
export function notATar(head: Uint8Array): TarScanError {
  const typeDetected = detectFileType(head)
  return new TarScanError(
    'fileReadFailed',
    `the build is not a tar (it looks like ${typeDetected})`,
    {
      typeExpected: 'tar',
      typeDetected,
      offset: 0,
    },
  )
}
