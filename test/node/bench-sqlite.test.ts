import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, describe, expect, it } from 'vitest'
import { buildDpkgWorld } from '../../scripts/bench/dpkg-world'
import { preloadCauses } from '../../scripts/bench/preload-cause'
import { planSqliteSession } from '../../scripts/bench/sqlite-sessions'
import { buildModel } from '../../src/engine/build-model'
import { BYTES_PER_MBIT } from '../../src/engine/preload'
import { tempDir } from './tar-fixtures'

const sqlite3 = '/usr/bin/sqlite3'
const hasSqlite = spawnSync(sqlite3, ['-version']).status === 0

/** A dpkg database of three packages, with their file lists, copyright and changelog. */
function fakeDpkg(root: string) {
  const dpkg = path.join(root, 'dpkg')
  const doc = path.join(root, 'doc')
  fs.mkdirSync(path.join(dpkg, 'info'), { recursive: true })
  const paragraph = (name: string, section: string, depends?: string) =>
    [
      `Package: ${name}`,
      'Status: install ok installed',
      `Section: ${section}`,
      'Installed-Size: 10',
      'Architecture: amd64',
      'Version: 1.0-1',
      ...(depends ? [`Depends: ${depends}`] : []),
      `Description: the ${name} package`,
      " it's long",
      ' .',
      ' really',
    ].join('\n')
  const status = [
    paragraph('zeta', 'utils', 'libalpha (>= 1.0), beta | gamma:any'),
    paragraph('libalpha', 'libs'),
    paragraph('beta', 'utils', 'libalpha'),
    'Package: gone\nStatus: deinstall ok config-files\nSection: libs',
  ]
  fs.writeFileSync(path.join(dpkg, 'status'), `${status.join('\n\n')}\n`)
  for (const name of ['zeta', 'libalpha', 'beta']) {
    const list = name === 'libalpha' ? 'libalpha:amd64.list' : `${name}.list`
    fs.writeFileSync(path.join(dpkg, 'info', list), `/usr/bin/${name}\n/usr/share/doc/${name}\n`)
    fs.writeFileSync(
      path.join(dpkg, 'info', `${name}.md5sums`),
      `${'a'.repeat(32)}  usr/bin/${name}\n`,
    )
    fs.mkdirSync(path.join(doc, name), { recursive: true })
    fs.writeFileSync(path.join(doc, name, 'copyright'), `License: GPL-2 for ${name}\n`)
  }
  const changelog = [
    'zeta (1.0-1) unstable; urgency=medium',
    '',
    '  * Fix CVE-2024-0001.',
    '',
    ' -- A Maintainer <a@example.org>  Mon, 01 Jan 2024 10:00:00 +0000',
    '',
    'zeta (0.9-1) unstable; urgency=low',
    '',
    '  * First upload.',
    '',
    ' -- A Maintainer <a@example.org>  Sun, 01 Jan 2023 10:00:00 +0000',
  ].join('\n')
  fs.writeFileSync(path.join(doc, 'zeta', 'changelog.Debian.gz'), gzipSync(changelog))
  return { dpkgDir: dpkg, docDir: doc }
}

const made: string[] = []
afterAll(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true })
})

/** A temp folder removed after the tests. */
function workDir(): string {
  const dir = tempDir('bench-sqlite-test')
  made.push(dir)
  return dir
}

const query = (db: string, sql: string) =>
  spawnSync(sqlite3, ['-readonly', '-bail', '-batch', '-init', '/dev/null', db, sql], {
    encoding: 'utf8',
  })

describe.skipIf(!hasSqlite)('the benchmark database from dpkg data', () => {
  it('holds the installed packages, their dependencies, files and texts', async () => {
    const dir = workDir()
    const dbFile = path.join(dir, 'world.db')
    const world = await buildDpkgWorld({ dbFile, sqlite3, ...fakeDpkg(dir) })

    expect(world.packages.map((pkg) => pkg.name)).toEqual(['beta', 'libalpha', 'zeta'])
    expect(world.packages.find((pkg) => pkg.name === 'libalpha')?.reverseDepends).toBe(2)
    expect(world).toMatchObject({ files: 6, changes: 2, copyrights: 3 })
    const depends = query(
      dbFile,
      "SELECT d.name, d.alt, d.version_rule FROM depends d JOIN packages p ON p.id = d.package_id WHERE p.name = 'zeta' ORDER BY d.name",
    )
    expect(depends.stdout.trim().split('\n')).toEqual(['beta|1|', 'gamma|1|', 'libalpha|0|>= 1.0'])
    const owner = query(
      dbFile,
      "SELECT p.name, f.md5 FROM files f JOIN packages p ON p.id = f.package_id WHERE f.path = '/usr/bin/libalpha'",
    )
    expect(owner.stdout.trim()).toBe(`libalpha|${'a'.repeat(32)}`)
    const changes = query(dbFile, 'SELECT version, author, body FROM changes ORDER BY seq')
    expect(changes.stdout).toContain('1.0-1|A Maintainer <a@example.org>|* Fix CVE-2024-0001.')
    expect(query(dbFile, "SELECT description FROM packages WHERE name = 'beta'").stdout).toBe(
      "it's long\n.\nreally\n",
    )

    // The same inputs give the same bytes.
    const again = path.join(dir, 'again.db')
    await buildDpkgWorld({ dbFile: again, sqlite3, ...fakeDpkg(path.join(dir, 'copy')) })
    expect(fs.readFileSync(again).equals(fs.readFileSync(dbFile))).toBe(true)
  })

  it('plans the same sessions every time, and sqlite3 runs them', async () => {
    const dir = workDir()
    const dbFile = path.join(dir, 'world.db')
    const world = await buildDpkgWorld({ dbFile, sqlite3, ...fakeDpkg(dir) })
    const plans = Array.from({ length: 8 }, (_, i) => planSqliteSession(world, i))

    expect(plans.map((plan) => plan.sql)).toEqual(
      Array.from({ length: 8 }, (_, i) => planSqliteSession(world, i).sql),
    )
    expect(new Set(plans.map((plan) => plan.sql)).size).toBeGreaterThan(4)
    for (const plan of plans) {
      expect(plan.sql.startsWith('SELECT count(*) FROM packages;')).toBe(true)
      expect(query(dbFile, plan.sql).status, plan.sql).toBe(0)
    }
  })
})

describe('what sets the preload', () => {
  // Blocks of 100 bytes: a = blocks 0-1, b = blocks 2-5. 0.0008 Mbit/s = 100 B/s.
  const model = buildModel(100, [
    { path: 'a', size: 200, firstBlock: 0, blockCount: 2 },
    { path: 'b', size: 400, firstBlock: 2, blockCount: 4 },
  ])
  const order = Uint32Array.from([0, 1, 2, 3, 4, 5])
  const trace = (blocks: number[], tMs: number[]) => ({
    blocks: Uint32Array.from(blocks),
    tMs: Uint32Array.from(tMs),
  })

  it('names the access that sets P* and the bytes no uploaded session read', () => {
    const [cause] = preloadCauses({
      model,
      order,
      heldOut: [{ name: 'held', trace: trace([0, 5, 2], [0, 1000, 1000]) }],
      uploaded: [trace([0, 1, 2], [0, 0, 0])],
      mbit: 100 / BYTES_PER_MBIT,
      blockNames: new Map([[5, 'b-index']]),
    })

    // Block 5 ends at 600 and is needed at 1 s: 600 - 100 = 500. Ideal: 300 - 100 = 200.
    expect(cause.preloadBytes).toBe(500)
    expect(cause.idealBytes).toBe(200)
    expect(cause.critical).toEqual({ what: 'b-index', tMs: 1000, imageEnd: 600, seen: false })
    expect(cause).toMatchObject({ readBytes: 300, unseenBytes: 100, unseenBy: { 'b-index': 100 } })
  })
})
