/**
 * Paths inside a build: normalising tar entry names and refusing anything that could escape
 * the build folder once a launcher writes it to disk, on Linux or on Windows.
 */

/** Splits on both separators: a launcher on Windows would treat a backslash as one. */
function components(path: string): string[] {
  return path.split(/[\\/]/)
}

function isAbsolute(path: string): boolean {
  return path.startsWith('/') || path.startsWith('\\') || /^[A-Za-z]:/.test(path)
}

/**
 * Normalises a tar entry name: strips './' and empty components and a trailing '/'. Returns
 * '' for the build root itself (`./`). Returns undefined for an absolute path, a `..`
 * component or a NUL byte, which the caller reports as unsafe.
 *
 * @example normaliseEntryPath('./data//maps/') // 'data/maps'
 */
export function normaliseEntryPath(raw: string): string | undefined {
  if (isAbsolute(raw) || raw.includes('\0')) return undefined
  const kept: string[] = []
  for (const part of raw.split('/')) {
    if (part === '' || part === '.') continue
    if (components(part).includes('..')) return undefined
    kept.push(part)
  }
  return kept.join('/')
}

/**
 * Checks that a symlink at `linkPath` pointing at `target` (relative to the link's folder)
 * stays inside the build. Returns the target unchanged when it does, undefined otherwise.
 */
export function checkSymlinkTarget(linkPath: string, target: string): string | undefined {
  if (isAbsolute(target) || target.includes('\0')) return undefined
  const folder = components(linkPath).slice(0, -1)
  for (const part of components(target)) {
    if (part === '' || part === '.') continue
    if (part !== '..') folder.push(part)
    else if (folder.length === 0) return undefined
    else folder.pop()
  }
  return target
}

/**
 * Turns a hard link's target (a path from the build root, as tar stores it) into the relative
 * target a symlink at `linkPath` would need, so both kinds of link read the same way.
 * Returns undefined when the target leaves the build.
 *
 * @example hardLinkAsSymlink('bin/tool', 'lib/tool.so') // '../lib/tool.so'
 */
export function hardLinkAsSymlink(linkPath: string, rootTarget: string): string | undefined {
  const target = normaliseEntryPath(rootTarget)
  if (!target) return undefined
  const from = linkPath.split('/').slice(0, -1)
  const to = target.split('/')
  let common = 0
  while (common < from.length && common < to.length - 1 && from[common] === to[common]) common++
  const up = from.slice(common).map(() => '..')
  return [...up, ...to.slice(common)].join('/')
}
