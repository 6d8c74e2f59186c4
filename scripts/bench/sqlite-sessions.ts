/**
 * The sqlite benchmark's program and its sessions. The program folder holds Debian's sqlite3
 * (`bin/sqlite3`), the dynamic loader and the shared libraries `ldd` names (`lib/`), and the
 * database (`data/world.db`). A session starts sqlite3 through the copied loader with
 * `--library-path lib`, so the loader's reads of the binary and of every library are traced
 * like the database's (only the loader itself is mapped by the kernel, unseen by strace).
 */
import { spawnSync } from 'node:child_process'
import { copyFile, mkdir } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { recordTrace, writeTrace } from '../../cli/commands/trace-record'
import type { DpkgPackage, DpkgWorld } from './dpkg-world'

/** Where things are in the program folder. */
export const programLayout = {
  binary: 'bin/sqlite3',
  libraries: 'lib',
  database: 'data/world.db',
} as const

/**
 * Copies `sqlite3` and the libraries and loader `ldd` lists for it into `appDir`; answers the
 * loader's path in the folder.
 */
export async function copyProgram(appDir: string, sqlite3 = '/usr/bin/sqlite3'): Promise<string> {
  const listed = spawnSync('ldd', [sqlite3], { encoding: 'utf8' })
  if (listed.status !== 0) throw new Error(`ldd ${sqlite3} failed: ${listed.stderr}`)
  const libraries = [...listed.stdout.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x/g)].map((m) => m[1])
  const loader = libraries.find((path) => /\/ld-linux[^/]*\.so/.test(path))
  if (!loader) throw new Error(`ldd ${sqlite3} names no dynamic loader`)

  await mkdir(join(appDir, 'bin'), { recursive: true })
  await mkdir(join(appDir, programLayout.libraries), { recursive: true })
  await copyFile(sqlite3, join(appDir, programLayout.binary))
  for (const library of libraries) {
    await copyFile(library, join(appDir, programLayout.libraries, basename(library)))
  }
  return join(appDir, programLayout.libraries, basename(loader))
}

/** A small seeded generator (xorshift32), so every machine plans the same sessions. */
function generator(seed: number): () => number {
  let state = (seed * 2654435761) >>> 0 || 1
  return () => {
    state ^= state << 13
    state >>>= 0
    state ^= state >>> 17
    state ^= state << 5
    state >>>= 0
    return state / 2 ** 32
  }
}

const quote = (text: string) => `'${text.replace(/'/g, "''")}'`

/** Statements every session runs first: the schema, a summary of packages and files. */
const startup = [
  'SELECT count(*) FROM packages;',
  'SELECT section, count(*), sum(installed_size) FROM packages GROUP BY section ' +
    'ORDER BY 3 DESC LIMIT 10;',
  'SELECT count(*) FROM files;',
]

const licences = ['GPL-2', 'GPL-3', 'LGPL', 'BSD', 'Expat', 'Apache', 'public domain', 'Artistic']

/** One planned session: its name and the SQL it runs. */
export interface SqliteSessionPlan {
  name: string
  /** What the session does beyond the start-up statements, for the log. */
  parts: string[]
  sql: string
}

/**
 * Plans session `index`: the start-up statements, lookups of 2 to 5 packages (picked in
 * proportion to 1 + how many packages depend on them: popular packages are looked up more),
 * then 2 to 4 of: owners of file paths, a package's file list, a licence search over the
 * copyright texts of one section, the latest changelog entries of packages, a CVE search in
 * one changelog, the file counts of one section's packages.
 */
export function planSqliteSession(world: DpkgWorld, index: number): SqliteSessionPlan {
  const random = generator(7919 + index)
  const { packages } = world
  const weights = packages.map((pkg) => 1 + pkg.reverseDepends)
  const total = weights.reduce((sum, weight) => sum + weight, 0)
  const popular = (): DpkgPackage => {
    let left = random() * total
    for (const [i, weight] of weights.entries()) {
      left -= weight
      if (left < 0) return packages[i]
    }
    return packages[packages.length - 1]
  }
  const any = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)]
  const between = (low: number, high: number) => low + Math.floor(random() * (high - low + 1))
  const allSections = [...new Set(packages.map((pkg) => pkg.section))]
  const bigSections = allSections.filter(
    (section) => packages.filter((pkg) => pkg.section === section).length >= 5,
  )
  const sections = bigSections.length > 0 ? bigSections : allSections
  const idOf = (pkg: DpkgPackage) => pkg.id

  const sql = [...startup]
  const parts: string[] = []
  const looked = Array.from({ length: between(2, 5) }, popular)
  parts.push(`lookup ${looked.map((pkg) => pkg.name).join(' ')}`)
  for (const pkg of looked) {
    sql.push(
      `SELECT name, version, section, summary FROM packages WHERE name = ${quote(pkg.name)};`,
      `SELECT d.kind, d.name, t.version FROM depends d LEFT JOIN packages t ON t.name = d.name ` +
        `WHERE d.package_id = ${idOf(pkg)};`,
      `SELECT count(*) FROM depends WHERE name = ${quote(pkg.name)};`,
    )
  }

  const extras: Array<() => void> = [
    () => {
      const paths = Array.from({ length: between(2, 4) }, () => any(any(packages).paths) ?? '/')
      parts.push(`owners of ${paths.length} paths`)
      for (const path of paths) {
        sql.push(
          `SELECT p.name FROM files f JOIN packages p ON p.id = f.package_id ` +
            `WHERE f.path = ${quote(path)};`,
        )
      }
    },
    () => {
      const pkg = any(packages)
      parts.push(`files of ${pkg.name}`)
      sql.push(`SELECT path, md5 FROM files WHERE package_id = ${idOf(pkg)} ORDER BY path;`)
    },
    () => {
      const [section, licence] = [any(sections), any(licences)]
      parts.push(`licence ${licence} in ${section}`)
      sql.push(
        `SELECT p.name FROM packages p JOIN copyrights c ON c.package_id = p.id ` +
          `WHERE p.section = ${quote(section)} AND c.text LIKE ${quote(`%${licence}%`)};`,
      )
    },
    () => {
      const chosen = Array.from({ length: between(1, 3) }, popular)
      parts.push(`changelog of ${chosen.map((pkg) => pkg.name).join(' ')}`)
      for (const pkg of chosen) {
        sql.push(
          `SELECT version, date, substr(body, 1, 200) FROM changes ` +
            `WHERE package_id = ${idOf(pkg)} ORDER BY seq LIMIT 3;`,
        )
      }
    },
    () => {
      const pkg = popular()
      parts.push(`CVEs of ${pkg.name}`)
      sql.push(
        `SELECT count(*) FROM changes WHERE package_id = ${idOf(pkg)} AND body LIKE '%CVE-%';`,
      )
    },
    () => {
      const section = any(sections)
      parts.push(`file counts in ${section}`)
      sql.push(
        `SELECT p.name, count(*) FROM packages p JOIN files f ON f.package_id = p.id ` +
          `WHERE p.section = ${quote(section)} GROUP BY p.id ORDER BY 2 DESC LIMIT 5;`,
      )
    },
  ]
  const count = between(2, 4)
  for (let i = 0; i < count; i++) extras.splice(Math.floor(random() * extras.length), 1)[0]()

  const name = `session-${String(index + 1).padStart(2, '0')}`
  return { name, parts, sql: sql.join('\n') }
}

/** A recorded session: its trace file and how the run went. */
export interface SqliteSession {
  name: string
  file: string
  parts: string[]
  reads: number
  files: number
  durationMs: number
}

/**
 * Runs each planned session under strace (`trace record`) and writes its trace, gzip, under
 * `workDir/traces`. A session whose sqlite3 fails (a bad statement) stops the benchmark.
 */
export async function recordSqliteSessions(opts: {
  appDir: string
  loader: string
  world: DpkgWorld
  workDir: string
  count: number
  log: (line: string) => void
}): Promise<SqliteSession[]> {
  await mkdir(join(opts.workDir, 'traces'), { recursive: true })
  const sessions: SqliteSession[] = []
  for (let index = 0; index < opts.count; index++) {
    const plan = planSqliteSession(opts.world, index)
    const command = [
      opts.loader,
      '--library-path',
      join(opts.appDir, programLayout.libraries),
      join(opts.appDir, programLayout.binary),
      ...['-readonly', '-bail', '-batch', '-init', '/dev/null'],
      join(opts.appDir, programLayout.database),
      plan.sql,
    ]
    const trace = await recordTrace({
      root: opts.appDir,
      command,
      cwd: opts.appDir,
      stdio: 'ignore',
      sessionId: `bench-sqlite-${plan.name}-${Date.now()}`,
    })
    if (trace.exitCode !== 0) throw new Error(`${plan.name}: sqlite3 exited ${trace.exitCode}`)
    const file = join(opts.workDir, 'traces', `${plan.name}.ndjson.gz`)
    await writeTrace(file, trace.header, trace.reads)
    const files = new Set(trace.reads.map((read) => read[1])).size
    const { durationMs } = trace.header
    sessions.push({
      name: plan.name,
      file,
      parts: plan.parts,
      reads: trace.reads.length,
      files,
      durationMs,
    })
    opts.log(
      `bench:   ${plan.name}: ${plan.parts.join('; ')}: ${durationMs} ms, ` +
        `${trace.reads.length} reads of ${files} files`,
    )
  }
  return sessions
}
