import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkBuildTree, MAX_LINK_HOPS, type TreeEntry } from '../../src/engine/build-tree'
import {
  craftTar,
  run,
  scanAll,
  seededBytes,
  TAR,
  tarDir,
  tempDir,
  writeBuildTree,
} from './tar-fixtures'

const BLOCK = 4096
let workDir: string

beforeAll(() => {
  workDir = tempDir('tree')
})
afterAll(() => {
  fs.rmSync(workDir, { recursive: true, force: true })
})

/** A fresh folder under the work dir with `files` (path -> content) and `links` (path -> target). */
function folder(name: string, files: Record<string, string>, links: Record<string, string> = {}) {
  const root = path.join(workDir, name)
  fs.mkdirSync(root, { recursive: true })
  for (const [file, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true })
    fs.writeFileSync(path.join(root, file), content)
  }
  for (const [link, target] of Object.entries(links)) {
    fs.mkdirSync(path.dirname(path.join(root, link)), { recursive: true })
    fs.symlinkSync(target, path.join(root, link))
  }
  return root
}

/**
 * A tar of folder `first`, then of each appended folder added by `tar -r` (a legal tar): the
 * whole folder, or only the `members` named (tar then adds no entries for their folders).
 */
function tarOf(first: string, ...appended: Array<{ dir: string; members?: string[] }>) {
  const file = path.join(workDir, `${path.basename(first)}-${appended.length}.tar`)
  run(TAR, ['--format=pax', '--sort=name', '-cf', file, '-C', first, '.'])
  for (const { dir, members = ['.'] } of appended) {
    run(TAR, ['--format=pax', '-rf', file, '-C', dir, ...members])
  }
  return new Uint8Array(fs.readFileSync(file))
}

/** Scans a tar (which the per-entry checks accept) and checks the whole tree. */
async function treeOf(tar: Uint8Array) {
  const { files } = await scanAll(tar, BLOCK)
  return { files, problem: checkBuildTree(files) }
}

/**
 * Where a path of a build folder really leads, relative to the build root. The system's
 * realpath: Node's own one folds `link/..` as text, which is exactly the mistake checked for.
 */
function realFromRoot(root: string, entry: string): string {
  const real = fs.realpathSync.native
  return path.relative(real(root), real(path.join(root, entry)))
}

describe('builds that are safe as a whole', () => {
  it('accepts the test builds in every tar format, links and hard links included', async () => {
    for (const format of ['ustar', 'pax', 'gnu'] as const) {
      const dir = path.join(workDir, `game-${format}`)
      fs.mkdirSync(dir)
      writeBuildTree(dir, BLOCK, format === 'ustar')
      const { files, problem } = await treeOf(tarDir(dir, format))
      expect(files.some((file) => file.kind === 'symlink')).toBe(true)
      expect(problem, format).toBeUndefined()
    }
  })

  it('accepts links that go through other links and stay inside, and dangling ones', async () => {
    const root = folder(
      'inside',
      { 'data/big.pak': 'pak', 'a/file.txt': 'a' },
      {
        lib: 'data',
        'bin/pak': '../lib/big.pak',
        'a/self': '.',
        'a/up': 'self/self/..',
        'a/far': '../lib/../a/self/file.txt',
        'bin/missing': '../nothing/here/..',
      },
    )
    const { problem } = await treeOf(tarOf(root))
    expect(problem).toBeUndefined()
    // What the check concluded matches what the links do on disk.
    for (const link of ['bin/pak', 'a/up', 'a/far']) {
      expect(realFromRoot(root, link).startsWith('..'), link).toBe(false)
    }
  })
})

describe('links that leave the build only together', () => {
  it('refuses a link whose target passes through another link to outside', async () => {
    const root = folder(
      'escape/build',
      { 'a/b/c/keep.txt': 'k' },
      { 'a/b/c/d': '../../..', 'a/b/c/e': 'd/../etc/passwd' },
    )
    fs.mkdirSync(path.join(workDir, 'escape/etc'))
    fs.writeFileSync(path.join(workDir, 'escape/etc/passwd'), 'outside the build')
    // On disk the pair does reach outside the build folder.
    expect(realFromRoot(root, 'a/b/c/e')).toBe(path.join('..', 'etc', 'passwd'))

    const tar = tarOf(root)
    const { files, problem } = await treeOf(tar)
    expect(files.map((file) => file.path)).toContain('a/b/c/e')
    expect(problem).toMatchObject({
      code: 'unsafePath',
      filename: 'a/b/c/e',
      index: files.findIndex((file) => file.path === 'a/b/c/e'),
    })
    expect(problem?.message).toContain('outside the build')
  })

  it('refuses an escape through a chain of links, whatever the tar order', async () => {
    const entries: TreeEntry[] = [
      { kind: 'symlink', path: 'x/y', linkTarget: 'z/..' },
      { kind: 'symlink', path: 'x/z', linkTarget: 'w' },
      { kind: 'symlink', path: 'x/w', linkTarget: '..' },
    ]
    for (const order of [entries, [...entries].reverse()]) {
      expect(checkBuildTree(order)).toMatchObject({ code: 'unsafePath', filename: 'x/y' })
    }
    expect(checkBuildTree(entries.slice(1))).toBeUndefined()
  })

  it('follows a link named in another case, as a case-insensitive file system would', () => {
    const entries: TreeEntry[] = [
      { kind: 'symlink', path: 'a/b/c/d', linkTarget: '../../..' },
      { kind: 'symlink', path: 'a/b/c/e', linkTarget: 'D/../etc/passwd' },
    ]
    expect(checkBuildTree(entries)).toMatchObject({ code: 'unsafePath', filename: 'a/b/c/e' })
    // With an entry of that exact name, the name is that entry.
    const exact: TreeEntry[] = [{ kind: 'dir', path: 'a/b/c/D' }, ...entries]
    expect(checkBuildTree(exact)).toBeUndefined()
  })

  it('refuses link loops and chains longer than the hop limit', async () => {
    const root = folder('loop', { 'ok.txt': 'ok' }, { 'l/a': 'b', 'l/b': 'a' })
    expect((await treeOf(tarOf(root))).problem).toMatchObject({ code: 'unsafePath' })
    expect((await treeOf(tarOf(root))).problem?.message).toContain('loops')

    const chain = (links: number): TreeEntry[] => [
      { kind: 'file', path: 'end.txt' },
      ...Array.from({ length: links }, (_, i) => ({
        kind: 'symlink' as const,
        path: `link-${i}`,
        linkTarget: i === links - 1 ? 'end.txt' : `link-${i + 1}`,
      })),
    ]
    expect(checkBuildTree(chain(MAX_LINK_HOPS))).toBeUndefined()
    expect(checkBuildTree(chain(MAX_LINK_HOPS + 1))).toMatchObject({
      code: 'unsafePath',
      filename: 'link-0',
    })
    expect(checkBuildTree(chain(MAX_LINK_HOPS + 1).reverse())).toMatchObject({
      code: 'unsafePath',
    })
  })
})

describe('entries under links, paths twice, files that are folders', () => {
  it('refuses an entry written under a link', async () => {
    const links = folder('under-1', { 'a/b/c/d/keep.txt': 'k' }, { 'a/b/c/e': 'd/..' })
    const payload = folder('under-2', { 'a/b/c/e/pwned.txt': 'pwned' })
    const tar = tarOf(links, { dir: payload, members: ['./a/b/c/e/pwned.txt'] })
    const { files, problem } = await treeOf(tar)
    const index = files.findIndex((file) => file.path === 'a/b/c/e/pwned.txt')
    expect(index).toBeGreaterThan(0)
    expect(problem).toMatchObject({ code: 'unsafePath', filename: 'a/b/c/e/pwned.txt', index })
    expect(problem?.message).toContain('under the link a/b/c/e')

    // With its folder listed too, the link's path is a folder as well.
    const both = await treeOf(tarOf(links, { dir: payload }))
    expect(both.problem).toMatchObject({ code: 'pathConflict', filename: 'a/b/c/e' })
  })

  it('counts a backslash as a separator, as a launcher on Windows does', async () => {
    const tar = craftTar([
      { name: 'sub/keep.txt', data: seededBytes(1, 10) },
      { name: 'x', type: '2', linkName: 'sub' },
      { name: 'x\\pwned.txt', data: seededBytes(2, 10) },
    ])
    expect((await treeOf(tar)).problem).toMatchObject({
      code: 'unsafePath',
      filename: 'x\\pwned.txt',
    })
  })

  it('refuses a path listed twice, naming the second, but lets a folder come again', async () => {
    const first = folder('twice-1', { 'a/f': 'one', 'a/g': 'g' })
    const second = folder('twice-2', { 'a/f': 'two' })
    const { files, problem } = await treeOf(tarOf(first, { dir: second }))
    const listed = files.flatMap((file, i) => (file.path === 'a/f' ? [i] : []))
    expect(listed).toHaveLength(2)
    expect(files.filter((file) => file.path === 'a')).toHaveLength(2)
    expect(problem).toMatchObject({ code: 'duplicatePath', filename: 'a/f', index: listed[1] })

    const folders = await treeOf(tarOf(first, { dir: first, members: ['./a'] }))
    expect(folders.files.filter((file) => file.path === 'a')).toHaveLength(2)
    expect(folders.problem).toMatchObject({ code: 'duplicatePath', filename: 'a/f' })
    const onlyFolders = await treeOf(
      tarOf(first, { dir: first, members: ['--no-recursion', './a'] }),
    )
    expect(onlyFolders.files.filter((file) => file.path === 'a')).toHaveLength(2)
    expect(onlyFolders.problem).toBeUndefined()
  })

  it('refuses a path that is a file and a folder, in any order', async () => {
    const file = folder('conflict-file', { 'a/f': 'a file' })
    const dir = folder('conflict-dir', { 'a/f/g': 'under it' })
    const cases = [
      tarOf(file, { dir }),
      tarOf(dir, { dir: file }),
      tarOf(file, { dir, members: ['./a/f/g'] }),
    ]
    for (const tar of cases) {
      const { files, problem } = await treeOf(tar)
      const named = files.flatMap((entry, i) => (entry.path === 'a/f' ? [i] : []))
      expect(problem).toMatchObject({ code: 'pathConflict', filename: 'a/f' })
      expect(named).toContain(problem?.index)
    }
    // Without the folder's own entry, the file is named and the message says what is under it.
    const implied = await treeOf(cases[2])
    expect(implied.files[implied.problem!.index].kind).toBe('file')
    expect(implied.problem?.message).toContain('a/f/g')
  })
})

describe('cost', () => {
  it('checks 100,000 entries and 20,000 links through one long target in linear time', () => {
    const entries: TreeEntry[] = []
    for (let i = 0; i < 100_000; i++) {
      entries.push({ kind: 'file', path: `assets/${i % 100}/deep/er/file-${i}.dat` })
    }
    // One link whose target has 100,000 components, and many links through it: each link's
    // target is walked once, so this costs about as much as the entries themselves.
    entries.push({ kind: 'symlink', path: 'assets/hub', linkTarget: './'.repeat(100_000) })
    for (let i = 0; i < 20_000; i++) {
      entries.push({ kind: 'symlink', path: `links/l-${i}`, linkTarget: '../assets/hub/0/deep' })
    }
    const started = performance.now()
    expect(checkBuildTree(entries)).toBeUndefined()
    expect(performance.now() - started).toBeLessThan(3_000)
  })
})
