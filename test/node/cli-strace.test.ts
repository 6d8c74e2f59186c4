import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RecordTraceOptions, recordTrace } from '../../cli/commands/trace-record'
import { main } from '../../cli/rockit'
import {
  decodeStraceString,
  parseFdArgument,
  type StraceEvent,
  StraceParser,
  splitArguments,
} from '../../cli/strace/parse'
import { TraceMapper, type TraceRead } from '../../cli/strace/to-trace'

const size = 100_000
let work: string
let root: string

beforeAll(async () => {
  work = await realpath(await mkdtemp(join(tmpdir(), 'rockit-strace-')))
  root = join(work, 'game')
  await mkdir(join(root, 'sub'), { recursive: true })
  await writeFile(join(root, 'a.bin'), randomBytes(size))
  await writeFile(join(root, 'sub', 'b.txt'), 'hello\n')
  await writeFile(join(work, 'outside.bin'), 'not in the build')
  await symlink('a.bin', join(root, 'link.bin'))
  await symlink('../outside.bin', join(root, 'out-link'))
  await symlink('game', join(work, 'game-alias'))
})

afterAll(async () => {
  await rm(work, { recursive: true, force: true })
})

function record(command: string[], options: Partial<RecordTraceOptions> = {}) {
  return recordTrace({ root, command, stdio: 'ignore', cwd: work, ...options })
}

/** The byte ranges of a file a trace touched, merged: [[start, end], ...]. */
function ranges(reads: TraceRead[], path: string): [number, number][] {
  const spans = reads
    .filter((read) => read[1] === path)
    .map((read): [number, number] => [read[2], read[2] + read[3]])
    .sort((a, b) => a[0] - b[0])
  const merged: [number, number][] = []
  for (const span of spans) {
    const last = merged[merged.length - 1]
    if (last && span[0] <= last[1]) last[1] = Math.max(last[1], span[1])
    else merged.push(span)
  }
  return merged
}

function parseText(text: string): StraceEvent[] {
  const events: StraceEvent[] = []
  const parser = new StraceParser((event) => events.push(event))
  for (const line of text.trim().split('\n')) parser.line(line.trim())
  parser.end()
  return events
}

function mapText(text: string, files: Record<string, number>, stoppedUs?: number) {
  const mapper = new TraceMapper({ root: '/g', files: new Map(Object.entries(files)) })
  for (const event of parseText(text)) mapper.event(event)
  return mapper.finish(stoppedUs)
}

describe('strace text parser', () => {
  it('splits arguments around quoted strings, arrays, comments and -y paths', () => {
    const body = String.raw`3</g/a,b\76c\"d>, "x, \"y\")"..., [{iov_len=2}, {iov_len=3}], 2 /* 5 vars */) = 5`
    const split = splitArguments(body)!
    expect(split.args).toEqual([
      String.raw`3</g/a,b\76c\"d>`,
      String.raw`"x, \"y\")"...`,
      '[{iov_len=2}, {iov_len=3}]',
      '2 /* 5 vars */',
    ])
    expect(body.slice(split.end)).toBe(' = 5')
    expect(parseFdArgument(split.args[0])).toEqual({ fd: 3, path: '/g/a,b>c"d' })
  })

  it('decodes octal and hex escapes as UTF-8', () => {
    expect(decodeStraceString(String.raw`/g/nlx \303\251.txt`)).toBe('/g/nlx é.txt')
    expect(decodeStraceString(String.raw`a\nb\x41\\`)).toBe('a\nbA\\')
  })

  it('joins unfinished and resumed halves across processes, timed at the start', () => {
    const events = parseText(`
      101  1700000000.000100 read(3</g/a.bin>,  <unfinished ...>
      102  1700000000.000200 openat(AT_FDCWD</g>, "b", O_RDONLY <unfinished ...>
      101  1700000000.000900 <... read resumed>""..., 4096) = 4096
      102  1700000000.001000 <... openat resumed>) = 4</g/b>
      103  1700000000.001100 --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED} ---
      103  1700000000.001200 +++ killed by SIGKILL +++
      101  1700000000.001300 +++ exited with 3 +++`)
    expect(events).toEqual([
      {
        kind: 'syscall',
        pid: 101,
        timeUs: 1700000000000100,
        name: 'read',
        args: ['3</g/a.bin>', '""...', '4096'],
        result: 4096,
      },
      {
        kind: 'syscall',
        pid: 102,
        timeUs: 1700000000000200,
        name: 'openat',
        args: ['AT_FDCWD</g>', '"b"', 'O_RDONLY'],
        result: 4,
        resultPath: '/g/b',
      },
      { kind: 'exit', pid: 103, timeUs: 1700000000001200, exitCode: undefined, signal: 'SIGKILL' },
      { kind: 'exit', pid: 101, timeUs: 1700000000001300, exitCode: 3, signal: undefined },
    ])
  })
})

describe('strace events to reads', () => {
  it('follows offsets through dup, lseek, short and failed reads, and reused descriptors', () => {
    const trace = mapText(
      `
      7  1700000000.000000 execve("/g/run", ["run"], 0x1 /* 3 vars */) = 0
      7  1700000000.001000 openat(AT_FDCWD</g>, "a.bin", O_RDONLY) = 3</g/a.bin>
      7  1700000000.001100 fcntl(3</g/a.bin>, F_DUPFD_CLOEXEC, 0) = 4</g/a.bin>
      7  1700000000.001200 lseek(4</g/a.bin>, -100, SEEK_END) = 900
      7  1700000000.002000 read(3</g/a.bin>, ""..., 4096) = 100
      7  1700000000.002100 read(3</g/a.bin>, ""..., 4096) = 0
      7  1700000000.003000 close(3</g/a.bin>) = 0
      7  1700000000.003100 close(4</g/a.bin>) = 0
      7  1700000000.004000 openat(AT_FDCWD</g>, "sub/b", O_RDONLY) = 3</g/sub/b>
      7  1700000000.004100 read(3</g/sub/b>, ""..., 10) = 10
      7  1700000000.004200 read(3</g/sub/b>, ""..., 10) = 10
      7  1700000000.004300 read(3</g/sub/b>, ""..., 10) = -1 EINTR (Interrupted system call)
      7  1700000000.005000 dup2(3</g/sub/b>, 0</dev/null>) = 0</g/sub/b>
      7  1700000000.005100 read(0</g/sub/b>, ""..., 5) = 5
      7  1700000000.006000 mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, 3</g/sub/b>, 0) = 0x7f0000000000
      7  1700000000.006100 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 3</g/a.bin>, 0x1000) = 0x7f0000100000
      7  1700000000.007000 pread64(5</etc/passwd>, ""..., 100, 0) = 100
      7  1700000000.007100 pread64(3</g/sub/b>, ""..., 100, 40) = 10
      7  1700000000.008000 +++ exited with 0 +++`,
      { 'a.bin': 1000, 'sub/b': 50 },
    )
    expect(trace.reads).toEqual([
      [2, 'a.bin', 900, 100],
      [4, 'sub/b', 0, 20],
      [5, 'sub/b', 20, 5],
      [6, 'sub/b', 0, 50],
      [7, 'sub/b', 40, 10],
    ])
    expect(trace).toMatchObject({ durationMs: 8, exitCode: 0, started: true })
    expect(trace.syscalls).toEqual({ read: 4, mmap: 1, pread64: 1 })
  })

  it('shares offsets with forked children even when their lines come first', () => {
    const trace = mapText(
      `
      10  1700000000.000000 openat(AT_FDCWD</g>, "a.bin", O_RDONLY) = 3</g/a.bin>
      10  1700000000.000200 vfork( <unfinished ...>
      11  1700000000.000300 read(3</g/a.bin>, ""..., 10) = 10
      11  1700000000.000400 execve("/bin/x", ["x"], 0x1 /* 1 var */) = 0
      11  1700000000.000500 read(3</g/a.bin>, ""..., 10) = 10
      10  1700000000.000600 <... vfork resumed>) = 11
      11  1700000000.002000 +++ exited with 0 +++
      10  1700000000.003000 read(3</g/a.bin>, ""..., 10) = 10
      10  1700000000.003100 clone3({flags=CLONE_VM|CLONE_FILES|CLONE_THREAD, exit_signal=0}, 88) = 12
      12  1700000000.004000 close(3</g/a.bin>) = 0
      12  1700000000.004100 openat(AT_FDCWD</g>, "sub/b", O_RDONLY) = 3</g/sub/b>
      12  1700000000.004200 read(3</g/sub/b>, ""..., 10) = 10
      10  1700000000.005000 read(3</g/sub/b>, ""..., 10) = 10`,
      { 'a.bin': 1000, 'sub/b': 50 },
    )
    // The child's two reads (before and after exec) move the offset the parent reads from;
    // the thread shares the descriptor table, so the parent reads on where the thread stopped.
    expect(trace.reads).toEqual([
      [0, 'a.bin', 0, 20],
      [3, 'a.bin', 20, 10],
      [4, 'sub/b', 0, 10],
      [5, 'sub/b', 10, 10],
    ])
  })

  it('ignores paths outside the root and files that were not in the build', () => {
    const trace = mapText(
      `
      7  1700000000.000000 openat(AT_FDCWD</g>, "../gx", O_RDONLY) = 3</gx/a.bin>
      7  1700000000.000100 read(3</gx/a.bin>, ""..., 10) = 10
      7  1700000000.000200 openat(AT_FDCWD</g>, "new.log", O_RDWR|O_CREAT, 0666) = 4</g/new.log>
      7  1700000000.000300 read(4</g/new.log>, ""..., 10) = 10
      7  1700000000.000400 read(5</g/a.bin>, ""..., 2000) = 2000`,
      { 'a.bin': 1000 },
      1700000000_500000,
    )
    expect(trace.reads).toEqual([[0, 'a.bin', 0, 1000]])
    // No exit line (strace was interrupted): the run lasted until strace stopped.
    expect(trace.durationMs).toBe(500)
    expect(trace.exitCode).toBeUndefined()
  })
})

describe('trace record on real programs', () => {
  it('records cat reading a whole file', async () => {
    const trace = await record(['cat', 'game/a.bin'])
    expect(new Set(trace.reads.map((read) => read[1]))).toEqual(new Set(['a.bin']))
    expect(ranges(trace.reads, 'a.bin')).toEqual([[0, size]])
    expect(trace.exitCode).toBe(0)
    expect(trace.header).toMatchObject({ format: 'rockit-trace/1', firstSession: true })
  })

  it('follows lseek in tail -c and dd skip=', async () => {
    const tail = await record(['tail', '-c', '100', 'game/a.bin'])
    expect(tail.reads.map((read) => read.slice(1))).toEqual([['a.bin', size - 100, 100]])

    const dd = await record([
      'dd',
      'if=game/a.bin',
      'of=/dev/null',
      'bs=1000',
      'skip=50',
      'count=2',
    ])
    expect(ranges(dd.reads, 'a.bin')).toEqual([[50_000, 52_000]])
  })

  it('maps symlinks, cwd-relative paths and a root given through a symlink', async () => {
    const script =
      'head -c 10 game/link.bin; cd game/sub && cat b.txt ../../outside.bin ../out-link'
    const trace = await record(['sh', '-c', script], { root: join(work, 'game-alias') })
    expect(trace.reads.map((read) => read.slice(1))).toEqual([
      ['a.bin', 0, 10],
      ['sub/b.txt', 0, 6],
    ])
  })

  it('shares the file offset between processes that inherit one descriptor', async () => {
    const script = '(head -c 10 >/dev/null; head -c 20 >/dev/null) < game/a.bin'
    const trace = await record(['sh', '-c', script])
    expect(trace.reads.map((read) => read.slice(1))).toEqual([
      ['a.bin', 0, 10],
      ['a.bin', 10, 20],
    ])
  })

  it('records pread, readv, preadv, mmap and dup from python3', async () => {
    const program = [
      'import mmap, os',
      "fd = os.open('game/a.bin', os.O_RDONLY)",
      'os.pread(fd, 100, 5000)',
      'os.lseek(fd, 10, os.SEEK_SET)',
      'os.readv(fd, [bytearray(7), bytearray(9)])',
      'os.preadv(fd, [bytearray(3), bytearray(4)], 200)',
      'whole = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)',
      'part = mmap.mmap(fd, 8192, access=mmap.ACCESS_READ, offset=4096)',
      'other = os.dup(fd)',
      'os.lseek(other, -50, os.SEEK_END)',
      'os.read(fd, 1000)',
    ].join('\n')
    const trace = await record(['python3', '-c', program])
    expect(trace.reads.map((read) => read.slice(1))).toEqual([
      ['a.bin', 5000, 100],
      ['a.bin', 10, 16],
      ['a.bin', 200, 7],
      ['a.bin', 0, size],
      ['a.bin', 4096, 8192],
      ['a.bin', size - 50, 50],
    ])
  })

  it('records positional reads from the threads of a node program', async () => {
    const program = [
      "const { Worker } = require('node:worker_threads')",
      "new Worker(`const fs = require('node:fs'); const fd = fs.openSync('game/a.bin');",
      'fs.readSync(fd, Buffer.alloc(10), 0, 10, 1234)',
      'fs.readvSync(fd, [Buffer.alloc(5), Buffer.alloc(6)], 300)`, { eval: true })',
    ].join('\n')
    const trace = await record([process.execPath, '-e', program])
    expect(ranges(trace.reads, 'a.bin')).toEqual([
      [300, 311],
      [1234, 1244],
    ])
  })

  it('writes the trace of a failing program and reports its exit code', async () => {
    const script = 'echo new > game/new.txt; cat game/new.txt game/sub/b.txt; exit 3'
    const trace = await record(['sh', '-c', script])
    await rm(join(root, 'new.txt'))
    expect(trace.exitCode).toBe(3)
    expect(trace.reads.map((read) => read.slice(1))).toEqual([['sub/b.txt', 0, 6]])
    const times = trace.reads.map((read) => read[0])
    expect(times.every((t) => Number.isInteger(t) && t >= 0)).toBe(true)
    expect(trace.header.durationMs).toBeGreaterThanOrEqual(times[times.length - 1])
  })

  it('says to install the Debian package when strace is missing', async () => {
    await expect(record(['true'], { strace: join(work, 'no-strace') })).rejects.toThrow(
      /install the Debian package strace/,
    )
  })

  it('runs as `rockit trace record` with the program exit code and an NDJSON file', () => {
    const output = join(work, 'cli.ndjson')
    const cli = spawnSync(
      'npx',
      ['tsx', 'cli/rockit.ts', 'trace', 'record', '--root', root, '--session-id', 's-1']
        .concat(['--build-name', 'build-0002', '-o', output, '--'])
        .concat(['sh', '-c', `head -c 5 ${root}/sub/b.txt; exit 4`]),
      { encoding: 'utf8' },
    )
    expect(cli.status).toBe(4)
    expect(cli.stdout).toBe('hello')
    expect(cli.stderr).toMatch(/exited with 4; 1 reads of 1 files/)
    return readFile(output, 'utf8').then((text) => {
      const [header, ...lines] = text
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line))
      expect(Object.keys(header)).toEqual([
        'format',
        'sessionId',
        'buildName',
        'durationMs',
        'firstSession',
      ])
      expect(header).toMatchObject({ sessionId: 's-1', buildName: 'build-0002' })
      expect(lines.map((line) => line.slice(1))).toEqual([['sub/b.txt', 0, 5]])
    })
  })
  it('leaves --help after -- to the traced program', async () => {
    const output = join(work, 'help.ndjson')
    const args = ['--root', root, '-o', output, '--', 'sh', '-c', 'exit 5', 'sh', '--help']
    expect(await main(['trace', 'record', ...args])).toBe(5)
    expect(JSON.parse(await readFile(output, 'utf8'))).toMatchObject({ format: 'rockit-trace/1' })
  })
})
