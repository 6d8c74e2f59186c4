import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { lstat, readdir, readlink, realpath, stat } from 'node:fs/promises'
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { parseArgs } from 'node:util'
import { type Command, UsageError } from '../command'
import { createProgress, type Progress } from '../progress'

/** One entry of a build tar, in tar order. */
export interface PackEntry {
  /** Path relative to the build folder, '/' separated, no leading `./`. */
  path: string
  type: 'file' | 'folder' | 'symlink'
  /** Bytes of data (files only; 0 otherwise). */
  size: number
}

export interface PackOptions {
  /** The build folder. */
  dir: string
  /** The tar to write; `-` writes to stdout. */
  out: string
  /** Called with the bytes written so far and the expected total (not for stdout). */
  onProgress?: (written: number, total: number) => void
}

/**
 * Lists what a build tar of `dir` holds, folder by folder with names in byte order (the order
 * of GNU tar's `--sort=name`), and refuses what a build cannot carry: symlinks that lead out of
 * the folder (or use an absolute target) and special files.
 */
export async function listPackEntries(dir: string): Promise<PackEntry[]> {
  const root = await realpath(dir).catch(() => {
    throw new Error(`${dir} does not exist`)
  })
  if (!(await stat(root)).isDirectory()) throw new Error(`${dir} is not a folder`)
  const entries: PackEntry[] = []

  async function walk(folder: string, prefix: string): Promise<void> {
    const names = (await readdir(folder)).sort((a, b) =>
      Buffer.compare(Buffer.from(a), Buffer.from(b)),
    )
    for (const name of names) {
      const absolute = join(folder, name)
      const path = prefix + name
      const info = await lstat(absolute)
      if (info.isDirectory()) {
        entries.push({ path, type: 'folder', size: 0 })
        await walk(absolute, `${path}/`)
      } else if (info.isFile()) {
        entries.push({ path, type: 'file', size: info.size })
      } else if (info.isSymbolicLink()) {
        await checkSymlink(root, absolute, path)
        entries.push({ path, type: 'symlink', size: 0 })
      } else {
        throw new Error(`${path} is not a file, folder or symlink: a build cannot hold it`)
      }
    }
  }
  await walk(root, '')
  return entries
}

async function checkSymlink(root: string, absolute: string, path: string): Promise<void> {
  const target = await readlink(absolute)
  if (isAbsolute(target)) {
    throw new Error(`symlink ${path} -> ${target} has an absolute target: make it relative`)
  }

  let reached = resolve(dirname(absolute), target)
  // Links through other links are judged where the kernel would land, when the target exists.
  reached = await realpath(reached).catch(() => reached)
  if (!isInside(root, reached)) {
    throw new Error(`symlink ${path} -> ${target} points outside the folder`)
  }
}

function isInside(root: string, path: string): boolean {
  const rel = relative(root, path)
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel))
}

/** Rough size of the tar: one header per entry, data in 512-byte records, the end blocks. */
function estimateTarSize(entries: PackEntry[]): number {
  const data = entries.reduce((sum, entry) => sum + 512 + Math.ceil(entry.size / 512) * 512, 0)
  return Math.ceil((data + 1024) / 10240) * 10240
}

/**
 * Writes one uncompressed POSIX (pax) tar of a build folder with GNU tar: paths relative to the
 * folder, entries in `listPackEntries` order, owner 0:0, mtime 0, no atime/ctime, hard links
 * stored as files; the same folder content always gives the same bytes.
 *
 * @example
 * await packBuild({ dir: 'game', out: 'game.tar' })
 */
export async function packBuild(options: PackOptions): Promise<PackEntry[]> {
  const entries = await listPackEntries(options.dir)
  const root = await realpath(options.dir)
  if (options.out !== '-' && isInside(root, resolve(options.out))) {
    throw new Error(`the tar ${options.out} cannot be written inside the folder it packs`)
  }

  const args = [
    '--create',
    `--file=${options.out}`,
    `--directory=${root}`,
    '--no-recursion',
    '--null',
    '--verbatim-files-from',
    '--files-from=-',
    '--format=pax',
    '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
    '--mtime=@0',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '--hard-dereference',
  ]
  const tar = spawn('tar', args, {
    stdio: ['pipe', options.out === '-' ? 'inherit' : 'ignore', 'pipe'],
    env: { ...process.env, LC_ALL: 'C.UTF-8' },
  })
  let errors = ''
  tar.stderr.on('data', (chunk) => {
    errors += chunk
  })
  tar.stdin.end(Buffer.from(entries.map((entry) => `${entry.path}\0`).join('')))

  const total = estimateTarSize(entries)
  let running = true
  const poll = setInterval(async () => {
    const written = await stat(options.out).then(
      (info) => info.size,
      () => 0,
    )
    if (running) options.onProgress?.(written, total)
  }, 200)
  try {
    const [code] = await once(tar, 'close')
    if (code !== 0) throw new Error(`tar failed (exit ${code}): ${errors.trim()}`)
  } finally {
    running = false
    clearInterval(poll)
  }
  if (options.out !== '-') options.onProgress?.((await stat(options.out)).size, total)
  return entries
}

const usage = `Usage: rockit build pack <dir> [-o out.tar]

Writes one uncompressed POSIX tar of <dir> (files, folders and symlinks inside it, paths
relative to it, sorted), the form a build is uploaded in. The same content gives the same
bytes.

Options:
  -o, --output <file>   default: <name of dir>.tar in the current folder; - is stdout
  -h, --help            show this help`

/** `rockit build pack`. */
export const buildPack: Command = {
  summary: 'pack a game folder into the uncompressed tar a build is uploaded as',
  usage,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { output: { type: 'string', short: 'o' } },
    })
    if (positionals.length !== 1) throw new UsageError('give exactly one folder to pack')

    const dir = positionals[0]
    const out = values.output ?? `${basename(resolve(dir))}.tar`
    let bar: Progress | undefined
    const entries = await packBuild({
      dir,
      out,
      onProgress(written, total) {
        bar ??= createProgress({ label: `packing ${out}`, total })
        bar.update(written)
      },
    })
    bar?.finish()

    const files = entries.filter((entry) => entry.type === 'file')
    const bytes = files.reduce((sum, entry) => sum + entry.size, 0)
    process.stderr.write(
      `rockit: ${out}: ${entries.length} entries, ${files.length} files, ${bytes} bytes\n`,
    )
    return 0
  },
}
