import { execFileSync, spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import {
  chmod,
  cp,
  link,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  realpath,
  rm,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { listPackEntries, packBuild } from '../../cli/commands/build-pack'
import { createProgress } from '../../cli/progress'
import { main } from '../../cli/rockit'

const longName = `${'x'.repeat(150)}.pak`
const files: Record<string, Buffer> = {
  'bin/game': randomBytes(3000),
  'data/a-b.pak': randomBytes(1),
  [`data/${longName}`]: randomBytes(70_000),
  'data/sub/é ü.txt': Buffer.from('unicode name\n'),
  'data/zero.bin': Buffer.alloc(0),
  'Readme.txt': Buffer.from('read me\n'),
}
let work: string
let game: string

beforeAll(async () => {
  work = await realpath(await mkdtemp(join(tmpdir(), 'rockit-pack-')))
  game = join(work, 'game')
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(game, path, '..'), { recursive: true })
    await writeFile(join(game, path), content)
  }
  await chmod(join(game, 'bin/game'), 0o755)
  await mkdir(join(game, 'saves'))
  await symlink('../data/zero.bin', join(game, 'bin/zero-link'))
  await link(join(game, 'Readme.txt'), join(game, 'data/readme-hardlink.txt'))
})

afterAll(async () => {
  await rm(work, { recursive: true, force: true })
})

function sha256(path: string): Promise<string> {
  return readFile(path).then((bytes) => createHash('sha256').update(bytes).digest('hex'))
}

/** Entries as `tar -tvf` lists them: type letter, mode, owner, size, date, path. */
function tarListing(tar: string): string[] {
  const text = execFileSync('tar', ['-tvf', tar], { env: { ...process.env, LC_ALL: 'C.UTF-8' } })
  return text.toString('utf8').trim().split('\n')
}

describe('rockit build pack', () => {
  it('writes a sorted pax tar of files, folders and symlinks with relative paths', async () => {
    const tar = join(work, 'game.tar')
    await packBuild({ dir: game, out: tar })

    const listing = tarListing(tar).map((line) => line.replace(/\s+/g, ' '))
    expect(listing).toEqual([
      '-rw-r--r-- 0/0 8 1970-01-01 00:00 Readme.txt',
      'drwxr-xr-x 0/0 0 1970-01-01 00:00 bin/',
      '-rwxr-xr-x 0/0 3000 1970-01-01 00:00 bin/game',
      'lrwxrwxrwx 0/0 0 1970-01-01 00:00 bin/zero-link -> ../data/zero.bin',
      'drwxr-xr-x 0/0 0 1970-01-01 00:00 data/',
      '-rw-r--r-- 0/0 1 1970-01-01 00:00 data/a-b.pak',
      '-rw-r--r-- 0/0 8 1970-01-01 00:00 data/readme-hardlink.txt',
      'drwxr-xr-x 0/0 0 1970-01-01 00:00 data/sub/',
      '-rw-r--r-- 0/0 13 1970-01-01 00:00 data/sub/é ü.txt',
      `-rw-r--r-- 0/0 70000 1970-01-01 00:00 data/${longName}`,
      '-rw-r--r-- 0/0 0 1970-01-01 00:00 data/zero.bin',
      'drwxr-xr-x 0/0 0 1970-01-01 00:00 saves/',
    ])
  })

  it('extracts back to the same bytes, modes and links', async () => {
    const tar = join(work, 'roundtrip.tar')
    const out = join(work, 'extracted')
    await packBuild({ dir: game, out: tar })
    await mkdir(out)
    execFileSync('tar', ['-xf', tar, '-C', out])

    for (const [path, content] of Object.entries(files)) {
      expect((await readFile(join(out, path))).equals(content), path).toBe(true)
    }
    expect(await readFile(join(out, 'data/readme-hardlink.txt'), 'utf8')).toBe('read me\n')
    expect((await lstat(join(out, 'bin/game'))).mode & 0o777).toBe(0o755)
    expect(await readlink(join(out, 'bin/zero-link'))).toBe('../data/zero.bin')
    expect((await lstat(join(out, 'saves'))).isDirectory()).toBe(true)
  })

  it('gives the same bytes for the same content, wherever and whenever it is packed', async () => {
    const first = join(work, 'first.tar')
    const second = join(work, 'second.tar')
    await packBuild({ dir: game, out: first })

    const copy = join(work, 'elsewhere', 'game-copy')
    await cp(game, copy, { recursive: true, verbatimSymlinks: true })
    await utimes(join(copy, 'Readme.txt'), new Date('2030-01-01'), new Date('2030-01-01'))
    await packBuild({ dir: copy, out: second })

    expect(await sha256(second)).toBe(await sha256(first))
    expect(spawnSync('cmp', [first, second]).status).toBe(0)
  })

  it('refuses a symlink that leads outside the folder, naming it', async () => {
    const dir = join(work, 'leaky')
    await mkdir(join(dir, 'data'), { recursive: true })
    await writeFile(join(dir, 'data/ok.bin'), 'ok')
    await symlink('../../game/Readme.txt', join(dir, 'data/escape'))
    await expect(listPackEntries(dir)).rejects.toThrow(
      'symlink data/escape -> ../../game/Readme.txt points outside the folder',
    )

    await rm(join(dir, 'data/escape'))
    await symlink(join(dir, 'data/ok.bin'), join(dir, 'data/absolute'))
    await expect(packBuild({ dir, out: join(work, 'leaky.tar') })).rejects.toThrow(
      /symlink data\/absolute -> .* has an absolute target/,
    )
  })

  it('refuses special files and a tar written into the folder itself', async () => {
    const dir = join(work, 'special')
    await mkdir(dir)
    execFileSync('mkfifo', [join(dir, 'pipe')])
    await expect(listPackEntries(dir)).rejects.toThrow(/^pipe is not a file, folder or symlink/)

    await rm(join(dir, 'pipe'))
    await writeFile(join(dir, 'a.bin'), 'a')
    await expect(packBuild({ dir, out: join(dir, 'self.tar') })).rejects.toThrow(
      /inside the folder/,
    )
  })

  it('runs as `rockit build pack` and reports usage mistakes', async () => {
    const tar = join(work, 'cli.tar')
    expect(await main(['build', 'pack', game, '-o', tar])).toBe(0)
    expect(tarListing(tar)).toHaveLength(12)

    expect(await main(['build', 'pack'])).toBe(2)
    expect(await main(['build', 'pack', game, '--level', '9'])).toBe(2)
    expect(await main(['build', 'pack', join(work, 'missing')])).toBe(1)
  })
})

describe('progress bar', () => {
  it('draws on a terminal and stays silent elsewhere', () => {
    const drawn: string[] = []
    const terminal = { isTTY: true, columns: 60, write: (text: string) => drawn.push(text) }
    const bar = createProgress({ label: 'packing', total: 2048, stream: terminal, intervalMs: 0 })
    bar.update(1024)
    bar.update(2048)
    bar.finish()
    expect(drawn[0]).toMatch(/^\rpacking \[#+\.+\] 50% 1\.0 KiB\/2\.0 KiB/)
    expect(drawn.at(-2)).toMatch(/\[#+\] 100% 2\.0 KiB\/2\.0 KiB/)
    expect(drawn.at(-1)).toBe('\n')

    const piped: string[] = []
    const log = { isTTY: false, write: (text: string) => piped.push(text) }
    const silent = createProgress({ label: 'packing', total: 10, stream: log, intervalMs: 0 })
    silent.update(5)
    silent.finish()
    expect(piped).toEqual([])
  })
})
