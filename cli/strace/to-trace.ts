import { sep } from 'node:path'
import {
  type FdArgument,
  parseFdArgument,
  parseNumber,
  parseOffsetPointer,
  type StraceEvent,
  type SyscallEvent,
} from './parse'

/** One read of a `rockit-trace/1` file: `[tMs, "path/in/build", offset, length]`. */
export type TraceRead = [tMs: number, path: string, offset: number, length: number]

/** The first line of a `rockit-trace/1` file. */
export interface TraceHeader {
  format: 'rockit-trace/1'
  sessionId: string
  buildName?: string
  durationMs: number
  firstSession: boolean
}

/** What a traced run produced, before it is written out. */
export interface MappedTrace {
  reads: TraceRead[]
  durationMs: number
  /** Whether strace showed the program at all (false when it could not be started). */
  started: boolean
  /** Exit status of the traced program, when it exited by itself. */
  exitCode?: number
  /** The signal that killed the traced program (`SIGKILL`), when one did. */
  signal?: string
  /** How many reads each syscall contributed (`read`, `pread64`, `mmap`, ...). */
  syscalls: Record<string, number>
}

export interface TraceMapperOptions {
  /** The build folder, as an absolute path with symlinks resolved (realpath). */
  root: string
  /** Regular files of the build: path relative to root with '/' separators -> size in bytes. */
  files: Map<string, number>
}

/** An open file description: what dup'ed and inherited descriptors share, offset included. */
interface OpenFile {
  path: string
  offset: number
}

interface Descriptor {
  file: OpenFile
  cloexec: boolean
}

type FdTable = Map<number, Descriptor>

const forks = new Set(['clone', 'clone3', 'fork', 'vfork'])

/**
 * Replays strace events against a model of each process's descriptor table and turns reads of
 * the build's files into trace reads: sequential reads follow the shared file offset (moved by
 * lseek, read, readv and friends), positional reads use their own offset, and an mmap of a
 * file counts as a read of the mapped range. Files outside the root, or not in `files`, are
 * ignored; reads are clipped to the file's size.
 *
 * @example
 * const mapper = new TraceMapper({ root: '/games/x', files })
 * const parser = new StraceParser((event) => mapper.event(event))
 */
export class TraceMapper {
  readonly #root: string
  readonly #files: Map<string, number>
  readonly #relative = new Map<string, string | null>()
  readonly #tables = new Map<number, FdTable>()
  // A child's lines can come before its parent's fork returns: keep them until it does.
  readonly #unborn = new Map<number, StraceEvent[]>()
  readonly #reads: TraceRead[] = []
  readonly #syscalls: Record<string, number> = {}
  #rootPid: number | undefined
  #startUs = 0
  #endUs = 0
  #exit: { exitCode?: number; signal?: string } = {}

  constructor(options: TraceMapperOptions) {
    this.#root = options.root.endsWith(sep) ? options.root : options.root + sep
    this.#files = options.files
  }

  /** Applies one strace event. */
  event(event: StraceEvent): void {
    if (this.#rootPid === undefined) {
      this.#rootPid = event.pid
      this.#startUs = event.timeUs
      this.#tables.set(event.pid, new Map())
    }
    this.#endUs = Math.max(this.#endUs, event.timeUs)

    if (!this.#tables.has(event.pid)) {
      const waiting = this.#unborn.get(event.pid) ?? []
      waiting.push(event)
      this.#unborn.set(event.pid, waiting)
      return
    }
    this.#apply(event)
  }

  /**
   * Ends the run and returns the reads sorted by time, adjacent ones merged per ms. Call once.
   * `stoppedUs` (epoch µs) bounds the duration when strace was stopped before it could show
   * the program's exit.
   */
  finish(stoppedUs?: number): MappedTrace {
    // Processes whose fork was never seen still count; their descriptors start unknown.
    for (const [pid, events] of this.#unborn) {
      this.#unborn.delete(pid)
      this.#tables.set(pid, new Map())
      for (const event of events) this.#apply(event)
    }

    // Lines of concurrent processes arrive in the order their syscalls ended, not began.
    const reads: TraceRead[] = []
    for (const read of this.#reads.sort((a, b) => a[0] - b[0])) appendRead(reads, read)

    const seenExit = this.#exit.exitCode !== undefined || this.#exit.signal !== undefined
    const endUs = seenExit ? this.#endUs : Math.max(this.#endUs, stoppedUs ?? 0)
    const durationMs = Math.ceil((endUs - this.#startUs) / 1000)
    const started = this.#rootPid !== undefined
    return { reads, durationMs, started, ...this.#exit, syscalls: { ...this.#syscalls } }
  }

  #apply(event: StraceEvent): void {
    const table = this.#tables.get(event.pid)!
    if (event.kind === 'exit') {
      if (event.pid === this.#rootPid)
        this.#exit = { exitCode: event.exitCode, signal: event.signal }
      this.#tables.delete(event.pid)
      return
    }
    if (event.result === undefined || event.result < 0) return
    if (forks.has(event.name)) this.#fork(event, table)
    else this.#syscall(event, table)
  }

  #fork(event: SyscallEvent, table: FdTable): void {
    const child = event.result!
    if (child <= 0) return
    const sharesTable = event.args.some((arg) => arg.includes('CLONE_FILES'))
    this.#tables.set(child, sharesTable ? table : copyTable(table))

    const waiting = this.#unborn.get(child)
    this.#unborn.delete(child)
    for (const early of waiting ?? []) this.#apply(early)
  }

  #syscall(event: SyscallEvent, table: FdTable): void {
    const { args } = event
    const n = event.result!
    const file = (arg: string | undefined) => this.#file(table, arg)
    switch (event.name) {
      case 'open':
      case 'openat':
      case 'openat2':
      case 'creat':
        if (event.resultPath === undefined) break
        table.set(n, {
          file: { path: event.resultPath, offset: 0 },
          cloexec: args.some((arg) => arg.includes('O_CLOEXEC')),
        })
        break
      case 'close':
        table.delete(parseNumber(fdNumber(args[0])))
        break
      case 'close_range':
        closeRange(this.#unshare(event.pid, table, args[2]), args)
        break
      case 'dup':
      case 'dup2':
      case 'dup3':
        duplicate(table, parseFdArgument(args[0]), n, args[2]?.includes('O_CLOEXEC'))
        break
      case 'fcntl':
        this.#fcntl(table, args, n)
        break
      case 'execve':
      case 'execveat':
        this.#exec(event.pid, table)
        break
      case 'lseek':
        this.#seek(file(args[0]), n)
        break
      case 'read':
      case 'readv':
        this.#sequential(event, file(args[0]), n)
        break
      case 'pread64':
      case 'preadv':
        this.#record(event, file(args[0]), parseNumber(args[3]), n)
        break
      case 'preadv2':
        // An offset of -1 means "at the file position, and move it", like readv.
        if (parseNumber(args[3]) === -1) this.#sequential(event, file(args[0]), n)
        else this.#record(event, file(args[0]), parseNumber(args[3]), n)
        break
      case 'sendfile':
        this.#transfer(event, file(args[1]), args[2], n)
        break
      case 'copy_file_range':
      case 'splice':
        this.#transfer(event, file(args[0]), args[1], n)
        break
      case 'mmap':
        this.#mmap(event, table)
        break
    }
  }

  #seek(file: OpenFile | undefined, position: number): void {
    if (file) file.offset = position
  }

  #fcntl(table: FdTable, args: string[], result: number): void {
    const command = args[1]
    if (command === 'F_DUPFD' || command === 'F_DUPFD_CLOEXEC') {
      duplicate(table, parseFdArgument(args[0]), result, command === 'F_DUPFD_CLOEXEC')
    } else if (command === 'F_SETFD') {
      const descriptor = table.get(parseNumber(fdNumber(args[0])))
      if (descriptor) descriptor.cloexec = args[2]?.includes('FD_CLOEXEC') ?? false
    }
  }

  #unshare(pid: number, table: FdTable, flags: string | undefined): FdTable {
    if (!flags?.includes('CLOSE_RANGE_UNSHARE')) return table
    const own = copyTable(table)
    this.#tables.set(pid, own)
    return own
  }

  #exec(pid: number, table: FdTable): void {
    // A successful exec drops close-on-exec descriptors and stops sharing the table.
    const kept = copyTable(table)
    for (const [fd, descriptor] of kept) if (descriptor.cloexec) kept.delete(fd)
    this.#tables.set(pid, kept)
  }

  #mmap(event: SyscallEvent, table: FdTable): void {
    const fd = parseFdArgument(event.args[4])
    if (!fd || fd.fd < 0) return
    const length = parseNumber(event.args[1])
    this.#record(event, this.#file(table, event.args[4]), parseNumber(event.args[5]), length)
  }

  #sequential(event: SyscallEvent, file: OpenFile | undefined, count: number): void {
    if (!file) return
    this.#record(event, file, file.offset, count)
    file.offset += count
  }

  #transfer(event: SyscallEvent, file: OpenFile | undefined, pointer: string, count: number) {
    const offset = parseOffsetPointer(pointer)
    if (offset === undefined) this.#sequential(event, file, count)
    else this.#record(event, file, offset, count)
  }

  /** The open file behind a descriptor argument; `-y` paths repair a table that missed a step. */
  #file(table: FdTable, arg: string | undefined): OpenFile | undefined {
    const fd = parseFdArgument(arg)
    if (!fd) return undefined
    const known = table.get(fd.fd)
    if (fd.path === undefined || known?.file.path === fd.path) return known?.file

    // TODO(#6): an fd we never saw opened is assumed to start at offset 0.
    const file = { path: fd.path, offset: 0 }
    table.set(fd.fd, { file, cloexec: false })
    return file
  }

  #record(event: SyscallEvent, file: OpenFile | undefined, offset: number, length: number): void {
    if (!file || !(length > 0) || !(offset >= 0)) return
    const path = this.#buildPath(file.path)
    if (path === null) return
    const size = this.#files.get(path)!
    if (offset >= size) return

    const tMs = Math.max(0, Math.floor((event.timeUs - this.#startUs) / 1000))
    appendRead(this.#reads, [tMs, path, offset, Math.min(length, size - offset)])
    this.#syscalls[event.name] = (this.#syscalls[event.name] ?? 0) + 1
  }

  /** The build path of an absolute path, or null when it is not one of the build's files. */
  #buildPath(path: string): string | null {
    let relative = this.#relative.get(path)
    if (relative !== undefined) return relative

    relative = null
    if (path.startsWith(this.#root)) {
      const candidate = path.slice(this.#root.length).split(sep).join('/')
      if (this.#files.has(candidate)) relative = candidate
    }
    this.#relative.set(path, relative)
    return relative
  }
}

/** Appends a read, or extends the last one when it continues it in the same millisecond. */
function appendRead(reads: TraceRead[], read: TraceRead): void {
  const last = reads[reads.length - 1]
  if (last && last[0] === read[0] && last[1] === read[1] && last[2] + last[3] === read[2]) {
    last[3] += read[3]
  } else {
    reads.push(read)
  }
}

function copyTable(table: FdTable): FdTable {
  const copy: FdTable = new Map()
  for (const [fd, descriptor] of table) copy.set(fd, { ...descriptor })
  return copy
}

function duplicate(table: FdTable, from: FdArgument | undefined, to: number, cloexec = false) {
  if (!from) return
  let source = table.get(from.fd)
  if (!source || (from.path !== undefined && source.file.path !== from.path)) {
    if (from.path === undefined) return
    source = { file: { path: from.path, offset: 0 }, cloexec: false }
    table.set(from.fd, source)
  }
  table.set(to, { file: source.file, cloexec })
}

function closeRange(table: FdTable, args: string[]): void {
  const first = parseNumber(fdNumber(args[0]))
  const last = parseNumber(fdNumber(args[1]))
  const onlyCloexec = args[2]?.includes('CLOSE_RANGE_CLOEXEC')
  for (const [fd, descriptor] of table) {
    if (fd < first || fd > last) continue
    if (onlyCloexec) descriptor.cloexec = true
    else table.delete(fd)
  }
}

/** The descriptor number of an argument, without its `-y` path annotation. */
function fdNumber(arg: string | undefined): string | undefined {
  return arg?.replace(/<.*$/, '')
}
