/**
 * The check of a build as a whole, once its file table is complete. The tar scanner judges one
 * entry at a time (its own path, its own link target); some builds only go wrong together: a
 * link whose target passes through other links and ends outside the build, an entry written
 * under a link, the same path listed twice, a path that is both a file and a folder.
 */

/** What the check needs of a file table entry (a `ScannedFile` fits). */
export interface TreeEntry {
  kind: 'file' | 'dir' | 'symlink'
  path: string
  /** For a link: the target relative to the link's folder. */
  linkTarget?: string
}

/** `unsafePath` for a path that would reach outside the build or through a link. */
export type TreeProblemCode = 'unsafePath' | 'duplicatePath' | 'pathConflict'

/** Why a build is refused, naming one entry. */
export interface TreeProblem {
  code: TreeProblemCode
  /** The path of the entry refused; for a conflict, the path that is a file and a folder. */
  filename: string
  /** Position of that entry in the file table. */
  index: number
  message: string
}

/** Links one target may need followed, in all, before it counts as a loop (Linux: 40). */
export const MAX_LINK_HOPS = 40

/** A path of the build: an entry, or a folder only implied by deeper entries. */
interface PathNode {
  name: string
  parent?: PathNode
  /** The entry at this path; undefined for an implied folder. */
  index?: number
  kind?: TreeEntry['kind']
  children?: Map<string, PathNode>
  /** Link children by lower-cased name, made on the first lookup that misses. */
  foldedLinks?: Map<string, PathNode>
  /** For a link: where its target ends, and the links followed to get there. */
  resolved?: { at: Place; hops: number } | 'resolving'
  /** Set on a folder once neither it nor any folder above it is a file or a link. */
  clean?: boolean
}

/** A point of a walk: a known path, then `missing` more components that no entry has. */
interface Place {
  node: PathNode
  missing: number
}

class Refusal extends Error {
  constructor(
    readonly code: TreeProblemCode,
    readonly node: PathNode,
    message: string,
  ) {
    super(message)
  }
}

/** Splits on both separators, as the scanner does: a launcher on Windows treats `\` as one. */
function componentsOf(path: string): string[] {
  return path.split(/[\\/]/).filter((part) => part !== '' && part !== '.')
}

function pathOf(node: PathNode): string {
  const names: string[] = []
  for (let at: PathNode | undefined = node; at?.parent; at = at.parent) names.push(at.name)
  return names.reverse().join('/')
}

/**
 * Checks a whole build. Returns the first problem, or undefined when the build is safe to
 * write out: only folders are listed more than once, no path is both a folder and a file or
 * link, no entry sits under a file or a link, and every link, resolved through the build's
 * other links, stays inside the build and needs at most {@link MAX_LINK_HOPS} links followed.
 * Time and memory are linear in the length of the paths and link targets.
 *
 * @example
 * checkBuildTree([
 *   { kind: 'symlink', path: 'a/b/c/d', linkTarget: '../../..' },
 *   { kind: 'symlink', path: 'a/b/c/e', linkTarget: 'd/../etc/passwd' },
 * ]) // { code: 'unsafePath', filename: 'a/b/c/e', index: 1, ... }
 */
export function checkBuildTree(entries: readonly TreeEntry[]): TreeProblem | undefined {
  const root: PathNode = { name: '' }
  const nodes: PathNode[] = []
  const problem = (refusal: Refusal): TreeProblem => ({
    code: refusal.code,
    filename: entries[refusal.node.index!].path,
    index: refusal.node.index!,
    message: refusal.message,
  })
  try {
    entries.forEach((entry, index) => {
      nodes.push(place(root, entry, index))
    })
    for (const node of nodes) checkFolders(node)
    for (const node of nodes) if (node.kind === 'symlink') resolveLink(node, entries, 0)
  } catch (error) {
    if (error instanceof Refusal) return problem(error)
    throw error
  }
  return undefined
}

/**
 * Adds an entry to the tree of paths. A folder may be listed again (as `tar -x` does, the
 * later entry only changes its mode and time); any other path listed twice is refused.
 */
function place(root: PathNode, entry: TreeEntry, index: number): PathNode {
  const parts = componentsOf(entry.path)
  if (parts.length === 0) {
    throw new Refusal('unsafePath', { name: '', index }, `${entry.path} names the build root`)
  }
  let node = root
  for (const part of parts) {
    node.children ??= new Map()
    let child = node.children.get(part)
    if (!child) {
      child = { name: part, parent: node }
      node.children.set(part, child)
    }
    node = child
  }
  if (node.kind === 'dir' && entry.kind === 'dir') return node
  if (node.kind !== undefined) {
    const second = { name: '', index }
    if (node.kind !== 'dir' && entry.kind !== 'dir') {
      throw new Refusal('duplicatePath', second, `${entry.path} is listed twice`)
    }
    const other = node.kind === 'dir' ? entry.kind : node.kind
    throw new Refusal(
      'pathConflict',
      second,
      `${entry.path} is listed as a folder and as a ${other === 'file' ? 'file' : 'link'}`,
    )
  }
  node.index = index
  node.kind = entry.kind
  return node
}

/** Refuses an entry whose folders include a file (a conflict) or a link (unsafe). */
function checkFolders(node: PathNode) {
  const above: PathNode[] = []
  for (let at = node.parent; at?.parent && !at.clean; at = at.parent) above.push(at)
  // The folder nearest the root is reported: it is where extracting would first go wrong.
  for (let i = above.length - 1; i >= 0; i--) {
    const folder = above[i]
    if (folder.kind === 'symlink') {
      throw new Refusal(
        'unsafePath',
        node,
        `${pathOf(node)} would be written under the link ${pathOf(folder)}`,
      )
    }
    if (folder.kind === 'file') {
      throw new Refusal(
        'pathConflict',
        folder,
        `${pathOf(folder)} is a file and also the folder of ${pathOf(node)}`,
      )
    }
    folder.clean = true
  }
}

/**
 * A child of `node` by name. A name no entry has but a link has in another case counts as
 * that link: a case-insensitive file system (Windows, macOS) would follow it.
 */
function childOf(node: PathNode, name: string): PathNode | undefined {
  const exact = node.children?.get(name)
  if (exact || !node.children) return exact
  if (!node.foldedLinks) {
    node.foldedLinks = new Map()
    for (const child of node.children.values()) {
      const key = child.name.toLowerCase()
      if (child.kind === 'symlink' && !node.foldedLinks.has(key)) node.foldedLinks.set(key, child)
    }
  }
  return node.foldedLinks.get(name.toLowerCase())
}

/**
 * Where link `link` ends. Memoised, so each link's target is walked once; `depth` is how many
 * links are being resolved around this one, which bounds the recursion.
 */
function resolveLink(
  link: PathNode,
  entries: readonly TreeEntry[],
  depth: number,
): { at: Place; hops: number } {
  const target = entries[link.index!].linkTarget ?? ''
  const looping = () =>
    new Refusal(
      'unsafePath',
      link,
      `the link ${pathOf(link)} -> ${target} loops or needs over ${MAX_LINK_HOPS} links followed`,
    )
  if (link.resolved === 'resolving' || depth > MAX_LINK_HOPS) throw looping()
  if (link.resolved) return link.resolved

  link.resolved = 'resolving'
  let at: Place = { node: link.parent!, missing: 0 }
  let hops = 1
  for (const part of target.split(/[\\/]/)) {
    if (part === '' || part === '.') continue
    if (part === '..') {
      if (at.missing > 0) at = { node: at.node, missing: at.missing - 1 }
      else if (at.node.parent) at = { node: at.node.parent, missing: 0 }
      else {
        throw new Refusal(
          'unsafePath',
          link,
          `the link ${pathOf(link)} -> ${target} leads outside the build`,
        )
      }
      continue
    }
    const child = at.missing > 0 ? undefined : childOf(at.node, part)
    if (!child) at = { node: at.node, missing: at.missing + 1 }
    else if (child.kind !== 'symlink') at = { node: child, missing: 0 }
    else {
      const followed = resolveLink(child, entries, depth + 1)
      hops += followed.hops
      if (hops > MAX_LINK_HOPS) throw looping()
      at = followed.at
    }
  }
  link.resolved = { at, hops }
  return link.resolved
}
