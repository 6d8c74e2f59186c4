import { type SpawnOptions, spawn, spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { closeSync, createReadStream, createWriteStream, openSync } from 'node:fs'
import { lstat, mkdtemp, readdir, realpath, rm } from 'node:fs/promises'
import { constants, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { parseArgs } from 'node:util'
import { createGzip } from 'node:zlib'
import { type Command, UsageError } from '../command'
import { StraceParser } from '../strace/parse'
import { type TraceHeader, TraceMapper, type TraceRead } from '../strace/to-trace'

/**
 * The syscalls strace is asked to show: how descriptors come and go (open, dup, close, fork,
 * exec) and every way a program takes file data (read, positional read, mmap, in-kernel copy).
 */
export const tracedSyscalls = [
  'open',
  'openat',
  'openat2',
  'creat',
  'close',
  'close_range',
  'dup',
  'dup2',
  'dup3',
  'fcntl',
  'clone',
  'clone3',
  'fork',
  'vfork',
  'execve',
  'execveat',
  'lseek',
  'read',
  'readv',
  'pread64',
  'preadv',
  'preadv2',
  'mmap',
  'sendfile',
  'copy_file_range',
  'splice',
]

export interface RecordTraceOptions {
  /** The build folder; reads of its files are recorded, others are ignored. */
  root: string
  /** The program and its arguments. */
  command: string[]
  /** Default: a random UUID. */
  sessionId?: string
  /** Left out of the header when not given (the server then takes the current build). */
  buildName?: string
  /** Default true: the first run after install, with cold caches. */
  firstSession?: boolean
  /** Folder the program starts in. Default: the current one. */
  cwd?: string
  /** What the traced program's stdin/stdout/stderr are. Default `inherit`. */
  stdio?: 'inherit' | 'ignore'
  /** Also copy strace's raw output to this file, to see what the trace came from. */
  straceLog?: string
  /** The strace binary. Default `strace` from PATH. */
  strace?: string
}

/** A recorded run: the trace to write plus how the program ended. */
export interface RecordedTrace {
  header: TraceHeader
  reads: TraceRead[]
  /** The program's exit code; 128 + the signal number when a signal killed it. */
  exitCode: number
  signal?: string
  /** Reads recorded per syscall (`read`, `mmap`, ...). */
  syscalls: Record<string, number>
}

/**
 * Runs a program under strace and maps its reads of the build folder's files to a
 * `rockit-trace/1` trace, whatever the program's exit code.
 *
 * @example
 * const trace = await recordTrace({ root: '/games/x', command: ['./x.bin'] })
 * await writeTrace('trace.ndjson', trace.header, trace.reads)
 */
export async function recordTrace(options: RecordTraceOptions): Promise<RecordedTrace> {
  const strace = options.strace ?? 'strace'
  requireStrace(strace)
  const root = await realpath(options.root).catch(() => {
    throw new Error(`the build folder ${options.root} does not exist`)
  })
  const files = await listBuildFiles(root)

  const work = await mkdtemp(join(tmpdir(), 'rockit-trace-'))
  try {
    const fifo = join(work, 'strace.fifo')
    const made = spawnSync('mkfifo', [fifo])
    if (made.status !== 0) throw new Error(`mkfifo failed: ${made.stderr}`)

    const mapper = new TraceMapper({ root, files })
    const parser = new StraceParser((event) => mapper.event(event))
    const log = options.straceLog ? createWriteStream(options.straceLog) : undefined
    const reader = readLines(fifo, (line) => {
      log?.write(`${line}\n`)
      parser.line(line)
    })

    const args = ['-f', '-ttt', '-y', '-q', '-s', '0', '--seccomp-bpf', '-e', 'signal=none']
    args.push('-e', `trace=${tracedSyscalls.join(',')}`, '-o', fifo, '--', ...options.command)
    let status: Awaited<ReturnType<typeof runStrace>>
    try {
      status = await runStrace(strace, args, {
        stdio: options.stdio ?? 'inherit',
        cwd: options.cwd,
      })
    } finally {
      await reader.release()
    }
    parser.end()
    if (log) await new Promise((resolve) => log.end(resolve))

    const mapped = mapper.finish(status.stoppedUs)
    if (!mapped.started && status.code !== 0) {
      throw new Error(`strace could not run ${options.command[0]} (exit ${status.code})`)
    }
    const header: TraceHeader = {
      format: 'rockit-trace/1',
      sessionId: options.sessionId ?? randomUUID(),
      buildName: options.buildName,
      durationMs: mapped.durationMs,
      firstSession: options.firstSession ?? true,
    }
    const signal = mapped.signal ?? status.signal
    const signalNumber = signal ? (constants.signals as Record<string, number>)[signal] : undefined
    const exitCode = mapped.exitCode ?? (signalNumber ? 128 + signalNumber : (status.code ?? 1))
    return { header, reads: mapped.reads, exitCode, signal, syscalls: mapped.syscalls }
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

/** Throws an error that says how to install strace when it cannot be run. */
export function requireStrace(strace = 'strace'): void {
  const probe = spawnSync(strace, ['-V'], { stdio: 'ignore' })
  if (probe.error || probe.status !== 0) {
    throw new Error(
      `strace is needed to record a trace but '${strace}' cannot be run: ` +
        'install the Debian package strace (apt-get install strace)',
    )
  }
}

/** The build's regular files (symlinks are read through their targets): path -> size. */
export async function listBuildFiles(root: string): Promise<Map<string, number>> {
  const files = new Map<string, number>()
  async function walk(folder: string, prefix: string): Promise<void> {
    const entries = await readdir(folder, { withFileTypes: true })
    await Promise.all(
      entries.map(async (entry) => {
        const path = prefix + entry.name
        if (entry.isDirectory()) await walk(join(folder, entry.name), `${path}/`)
        else if (entry.isFile()) files.set(path, (await lstat(join(folder, entry.name))).size)
      }),
    )
  }
  await walk(root, '')
  return files
}

/**
 * Writes a trace as NDJSON (gzip when the name ends in `.gz`, stdout for `-`).
 */
export async function writeTrace(
  file: string,
  header: TraceHeader,
  reads: TraceRead[],
): Promise<void> {
  async function* chunks() {
    yield `${JSON.stringify(header)}\n`
    for (let i = 0; i < reads.length; i += 4096) {
      yield reads
        .slice(i, i + 4096)
        .map((read) => `${JSON.stringify(read)}\n`)
        .join('')
    }
  }
  const source = Readable.from(chunks())
  if (file === '-') {
    for await (const chunk of source) {
      if (!process.stdout.write(chunk)) await once(process.stdout, 'drain')
    }
  } else if (file.endsWith('.gz')) {
    await pipeline(source, createGzip(), createWriteStream(file))
  } else {
    await pipeline(source, createWriteStream(file))
  }
}

/**
 * Reads lines from the FIFO strace writes. `release` resolves once all lines are read; it also
 * unblocks the reader when strace exited without ever opening the FIFO (opening a FIFO for
 * reading waits for a writer, and read-write opens never wait on Linux).
 */
function readLines(fifo: string, onLine: (line: string) => void) {
  const input = createReadStream(fifo)
  const opened = once(input, 'open')
  const done = (async () => {
    for await (const line of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
      onLine(line)
    }
  })()
  let isOpen = false
  opened.then(
    () => {
      isOpen = true
    },
    () => {},
  )

  return {
    async release(): Promise<void> {
      if (!isOpen) {
        const writer = openSync(fifo, 'r+')
        await opened
        closeSync(writer)
      }
      await done
    },
  }
}

function runStrace(strace: string, args: string[], spawnOptions: SpawnOptions) {
  // The traced program gets Ctrl-C from the terminal itself; rockit stays to write the trace.
  const ignore = () => {}
  process.on('SIGINT', ignore)
  return new Promise<{ code: number | null; signal?: string; stoppedUs: number }>(
    (resolve, reject) => {
      const child = spawn(strace, args, spawnOptions)
      child.on('error', reject)
      child.on('exit', (code, signal) => {
        process.off('SIGINT', ignore)
        // strace's -ttt clock is the wall clock too: this bounds a run strace could not finish.
        resolve({ code, signal: signal ?? undefined, stoppedUs: Date.now() * 1000 })
      })
    },
  )
}

/** The most reads one trace may hold (DESIGN.md, trace file limits). */
const maxTraceReads = 2_000_000

const usage = `Usage: rockit trace record --root <dir> [options] -- <command ...>

Runs <command> under strace and writes the reads it made of the files under <dir> as a
rockit-trace/1 file. The exit code is the program's own.

Options:
  --root <dir>          the build folder (required)
  --session-id <id>     default: a random UUID
  --build-name <name>   the build the trace belongs to (default: the app's current one)
  -o, --output <file>   default: trace-<session-id>.ndjson; .gz compresses; - is stdout
  --strace-log <file>   also keep strace's raw output
  -h, --help            show this help

Needs strace (Debian package strace).`

/** `rockit trace record`. */
export const traceRecord: Command = {
  summary: 'run a program under strace and record its reads of a build folder',
  usage,
  async run(args) {
    const split = args.indexOf('--')
    if (split < 0 || split === args.length - 1) {
      throw new UsageError('give the program to trace after --')
    }
    const { values } = parseArgs({
      args: args.slice(0, split),
      options: {
        root: { type: 'string' },
        'session-id': { type: 'string' },
        'build-name': { type: 'string' },
        output: { type: 'string', short: 'o' },
        'strace-log': { type: 'string' },
      },
    })
    if (!values.root) throw new UsageError('--root <dir> is required')

    const sessionId = values['session-id'] ?? randomUUID()
    const output = values.output ?? `trace-${sessionId}.ndjson`
    const command = args.slice(split + 1)
    const trace = await recordTrace({
      root: values.root,
      command,
      sessionId,
      buildName: values['build-name'],
      straceLog: values['strace-log'],
    })
    await writeTrace(output, trace.header, trace.reads)

    const files = new Set(trace.reads.map((read) => read[1])).size
    const calls = Object.entries(trace.syscalls).map(([name, n]) => `${name} ${n}`)
    const ended = trace.signal ? `was killed by ${trace.signal}` : `exited with ${trace.exitCode}`
    process.stderr.write(
      `rockit: ${command[0]} ran ${trace.header.durationMs} ms and ${ended}; ` +
        `${trace.reads.length} reads of ${files} files (${calls.join(', ') || 'none'}) -> ${output}\n`,
    )
    if (trace.reads.length > maxTraceReads) {
      process.stderr.write(
        `rockit: warning: the server refuses traces over ${maxTraceReads} reads\n`,
      )
    }
    return trace.exitCode
  },
}
