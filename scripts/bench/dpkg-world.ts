/**
 * The benchmark's database, made from what dpkg knows about this machine: the installed
 * packages of /var/lib/dpkg/status with their dependencies, the files of each package
 * (/var/lib/dpkg/info/*.list with the checksums of *.md5sums), and the copyright and Debian
 * changelog texts under /usr/share/doc. Inputs are read in sorted order, so the same package
 * set gives the same database, byte for byte, with the same sqlite3.
 */
import { spawnSync } from 'node:child_process'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'

/** One installed package, as the benchmark's sessions know it. */
export interface DpkgPackage {
  id: number
  name: string
  arch: string
  section: string
  /** Packages whose Depends, Pre-Depends, Recommends or Suggests name this one. */
  reverseDepends: number
  /** Installed paths (from the package's .list file), sorted. */
  paths: string[]
}

/** What the database holds, for planning sessions on it. */
export interface DpkgWorld {
  packages: DpkgPackage[]
  files: number
  changes: number
  copyrights: number
}

const dependencyKinds = ['Pre-Depends', 'Depends', 'Recommends', 'Suggests']

/** The fields of each paragraph of a dpkg status file; continuation lines are kept. */
function paragraphs(text: string): Map<string, string>[] {
  return text
    .split(/\n\n+/)
    .filter((block) => block.trim())
    .map((block) => {
      const fields = new Map<string, string>()
      let last = ''
      for (const line of block.split('\n')) {
        if (/^[ \t]/.test(line) && last) fields.set(last, `${fields.get(last)}\n${line.slice(1)}`)
        else {
          const colon = line.indexOf(':')
          if (colon < 1) continue
          last = line.slice(0, colon)
          fields.set(last, line.slice(colon + 1).trim())
        }
      }
      return fields
    })
}

/** `a (>= 1), b | c:any` -> [alternative group, name, version rule]. */
function dependencies(field: string): Array<[number, string, string]> {
  return field.split(',').flatMap((group, alt) =>
    group
      .split('|')
      .map((term) => term.trim())
      .filter(Boolean)
      .map((term): [number, string, string] => {
        const match = /^([^\s(:[]+)(?::\S+)?\s*(?:\(([^)]*)\))?/.exec(term)
        return [alt, match?.[1] ?? term, match?.[2]?.trim() ?? '']
      }),
  )
}

/** A Debian changelog split into entries: header, body, trailer line. */
function changelogEntries(text: string) {
  const entries: Array<{
    version: string
    distribution: string
    urgency: string
    author: string
    date: string
    body: string[]
  }> = []
  for (const line of text.split('\n')) {
    const head = /^\S+ \(([^)]+)\)\s*([^;]*);\s*urgency=(\S+)/.exec(line)
    const trailer = /^ -- (.+?)\s{2}(.+)$/.exec(line)
    const entry = entries[entries.length - 1]
    if (head) {
      entries.push({
        version: head[1],
        distribution: head[2].trim(),
        urgency: head[3],
        author: '',
        date: '',
        body: [],
      })
    } else if (trailer && entry && !entry.author) {
      entry.author = trailer[1]
      entry.date = trailer[2]
    } else if (entry && !entry.author) entry.body.push(line)
  }
  return entries
}

const sqlText = (value: string) => `'${value.replace(/\0/g, '').replace(/'/g, "''")}'`
const sqlValue = (value: string | number) =>
  typeof value === 'number' ? String(value) : sqlText(value)
const insert = (table: string, values: Array<string | number>) =>
  `INSERT INTO ${table} VALUES(${values.map(sqlValue).join(',')});\n`

async function readText(path: string): Promise<string | undefined> {
  try {
    const bytes = await readFile(path)
    return (path.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8')
  } catch {
    return undefined
  }
}

async function firstText(paths: string[]): Promise<string | undefined> {
  for (const path of paths) {
    const text = await readText(path)
    if (text !== undefined) return text
  }
  return undefined
}

const schema = `PRAGMA page_size=4096;
PRAGMA journal_mode=OFF;
CREATE TABLE packages(id INTEGER PRIMARY KEY, name TEXT NOT NULL, arch TEXT, version TEXT,
  section TEXT, priority TEXT, installed_size INTEGER, maintainer TEXT, source TEXT,
  homepage TEXT, summary TEXT, description TEXT);
CREATE TABLE depends(package_id INTEGER NOT NULL, kind TEXT, alt INTEGER, name TEXT,
  version_rule TEXT);
CREATE TABLE files(id INTEGER PRIMARY KEY, package_id INTEGER NOT NULL, path TEXT, md5 TEXT);
CREATE TABLE copyrights(package_id INTEGER PRIMARY KEY, text TEXT);
CREATE TABLE changes(id INTEGER PRIMARY KEY, package_id INTEGER NOT NULL, seq INTEGER,
  version TEXT, distribution TEXT, urgency TEXT, author TEXT, date TEXT, body TEXT);
BEGIN;
`

const indexes = `COMMIT;
CREATE INDEX packages_name ON packages(name);
CREATE INDEX packages_section ON packages(section);
CREATE INDEX depends_package ON depends(package_id);
CREATE INDEX depends_name ON depends(name);
CREATE INDEX files_package ON files(package_id);
CREATE INDEX files_path ON files(path);
CREATE INDEX changes_package ON changes(package_id, seq);
ANALYZE;
`

/**
 * Writes the database to `dbFile` (which must not exist) with the `sqlite3` program and
 * answers what it holds. `dpkgDir` and `docDir` are /var/lib/dpkg and /usr/share/doc.
 */
export async function buildDpkgWorld(opts: {
  dbFile: string
  sqlite3: string
  dpkgDir?: string
  docDir?: string
}): Promise<DpkgWorld> {
  const dpkgDir = opts.dpkgDir ?? '/var/lib/dpkg'
  const docDir = opts.docDir ?? '/usr/share/doc'
  const status = paragraphs(await readFile(join(dpkgDir, 'status'), 'utf8'))
    .filter((fields) => /\sinstalled$/.test(fields.get('Status') ?? ''))
    .sort((a, b) =>
      `${a.get('Package')}:${a.get('Architecture')}` <
      `${b.get('Package')}:${b.get('Architecture')}`
        ? -1
        : 1,
    )
  const infoFiles = new Set(await readdir(join(dpkgDir, 'info')))
  const info = (name: string, arch: string, ext: string) =>
    [`${name}:${arch}.${ext}`, `${name}.${ext}`].find((file) => infoFiles.has(file))

  const sql: string[] = [schema]
  const packages: DpkgPackage[] = []
  const dependedOn = new Map<string, number>()
  let files = 0
  let changes = 0
  let copyrights = 0
  for (const [index, fields] of status.entries()) {
    const id = index + 1
    const name = fields.get('Package') ?? ''
    const arch = fields.get('Architecture') ?? ''
    const [summary, ...description] = (fields.get('Description') ?? '').split('\n')
    const text = (key: string) => fields.get(key) ?? ''
    sql.push(
      insert('packages', [
        id,
        name,
        arch,
        text('Version'),
        text('Section'),
        text('Priority'),
        Number(fields.get('Installed-Size') ?? 0),
        text('Maintainer'),
        text('Source'),
        text('Homepage'),
        summary,
        description.join('\n'),
      ]),
    )
    const named = new Set<string>()
    for (const kind of dependencyKinds) {
      for (const [alt, target, rule] of dependencies(fields.get(kind) ?? '')) {
        sql.push(insert('depends', [id, kind, alt, target, rule]))
        named.add(target)
      }
    }
    for (const target of named) dependedOn.set(target, (dependedOn.get(target) ?? 0) + 1)

    const list = info(name, arch, 'list')
    const listed = list ? ((await readText(join(dpkgDir, 'info', list))) ?? '') : ''
    const paths = [...new Set(listed.split('\n').filter(Boolean))].sort()
    const sums = info(name, arch, 'md5sums')
    const md5 = new Map<string, string>()
    for (const line of ((sums && (await readText(join(dpkgDir, 'info', sums)))) ?? '').split(
      '\n',
    )) {
      const match = /^([0-9a-f]{32})\s+(.+)$/.exec(line)
      if (match) md5.set(`/${match[2]}`, match[1])
    }
    for (const path of paths) {
      files++
      sql.push(insert('files', [files, id, path, md5.get(path) ?? '']))
    }

    const copyright = await readText(join(docDir, name, 'copyright'))
    if (copyright !== undefined) {
      copyrights++
      sql.push(insert('copyrights', [id, copyright]))
    }
    const changelog = await firstText([
      join(docDir, name, 'changelog.Debian.gz'),
      join(docDir, name, `changelog.Debian.${arch}.gz`),
    ])
    for (const [seq, entry] of changelogEntries(changelog ?? '').entries()) {
      changes++
      const body = entry.body.join('\n').trim()
      sql.push(
        insert('changes', [
          changes,
          id,
          seq,
          entry.version,
          entry.distribution,
          entry.urgency,
          entry.author,
          entry.date,
          body,
        ]),
      )
    }
    packages.push({ id, name, arch, section: text('Section'), reverseDepends: 0, paths })
  }
  sql.push(indexes)
  for (const pkg of packages) pkg.reverseDepends = dependedOn.get(pkg.name) ?? 0

  const made = spawnSync(opts.sqlite3, ['-bail', opts.dbFile], {
    input: sql.join(''),
    maxBuffer: 64 * 2 ** 20,
  })
  if (made.status !== 0) {
    throw new Error(`sqlite3 could not build ${opts.dbFile}: ${made.stderr || made.error}`)
  }
  return { packages, files, changes, copyrights }
}
