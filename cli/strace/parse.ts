/**
 * Parser for the text strace writes with `-f -ttt -y` (one process per line prefix, absolute
 * timestamps, the path behind each file descriptor). It joins `<unfinished ...>` and
 * `<... resumed>` halves and hands out one event per finished syscall or process exit.
 */

/** A finished syscall with its arguments still as strace printed them. */
export interface SyscallEvent {
  kind: 'syscall'
  pid: number
  /** When the syscall began, in microseconds since the epoch. */
  timeUs: number
  name: string
  /** Top-level arguments, unparsed (`3</games/x/a.pak>`, `NULL`, `[400]`, `"..."...`). */
  args: string[]
  /** The numeric result, or undefined when strace printed `?`. */
  result: number | undefined
  /** The path behind a returned file descriptor (`= 3</games/x/a.pak>`). */
  resultPath?: string
}

/** A process (or thread) that ended: `+++ exited with 3 +++` or `+++ killed by SIGKILL +++`. */
export interface ExitEvent {
  kind: 'exit'
  pid: number
  timeUs: number
  exitCode?: number
  signal?: string
}

/** One event from strace output, in the order strace finished it. */
export type StraceEvent = SyscallEvent | ExitEvent

/** A file descriptor argument: its number and, with `-y`, the path behind it. */
export interface FdArgument {
  fd: number
  path?: string
}

const linePattern = /^(?:\[pid\s+)?(?:(\d+)\]?\s+)?(\d+)\.(\d{1,6}) (.*)$/
const exitPattern = /^\+\+\+ (?:exited with (\d+)|killed by (SIG\w+))/
const resumedPattern = /^<\.\.\. ([\w?]+) resumed>(.*)$/
const callPattern = /^([\w?]+)\((.*)$/
const unfinishedSuffix = ' <unfinished ...>'
const resultPattern = /^\s*= (-?\d+|0x[0-9a-fA-F]+|\?)(?:<(.*?)>)?/

/**
 * Turns strace lines into events. Feed every line to `line`; call `end` after the last one
 * to drop halves that never resumed (a process killed inside a syscall).
 *
 * @example
 * const parser = new StraceParser((event) => events.push(event))
 * for await (const text of lines) parser.line(text)
 * parser.end()
 */
export class StraceParser {
  readonly #onEvent: (event: StraceEvent) => void
  readonly #pending = new Map<number, { name: string; timeUs: number; head: string }>()
  #rootPid: number | undefined

  constructor(onEvent: (event: StraceEvent) => void) {
    this.#onEvent = onEvent
  }

  /** Parses one line of strace output (without its newline). Unknown lines are ignored. */
  line(text: string): void {
    const match = linePattern.exec(text)
    if (!match) return

    // Without -f strace prints no pid: all lines then belong to the one process.
    this.#rootPid ??= match[1] ? Number(match[1]) : 0
    const pid = match[1] ? Number(match[1]) : this.#rootPid
    const timeUs = Number(match[2]) * 1_000_000 + Number(match[3].padEnd(6, '0'))
    const rest = match[4]

    if (rest.startsWith('+++ ')) {
      this.#exit(pid, timeUs, rest)
      return
    }
    if (rest.startsWith('--- ')) return

    const resumed = resumedPattern.exec(rest)
    if (resumed) {
      const half = this.#pending.get(pid)
      this.#pending.delete(pid)
      if (half?.name === resumed[1]) this.#call(pid, half.timeUs, half.name, half.head + resumed[2])
      return
    }

    const call = callPattern.exec(rest)
    if (!call) return
    if (call[2].endsWith(unfinishedSuffix)) {
      const head = call[2].slice(0, -unfinishedSuffix.length)
      this.#pending.set(pid, { name: call[1], timeUs, head })
      return
    }
    this.#call(pid, timeUs, call[1], call[2])
  }

  /** Forgets syscalls that began but never finished. */
  end(): void {
    this.#pending.clear()
  }

  #exit(pid: number, timeUs: number, rest: string): void {
    this.#pending.delete(pid)
    const match = exitPattern.exec(rest)
    if (!match) return
    const exitCode = match[1] === undefined ? undefined : Number(match[1])
    this.#onEvent({ kind: 'exit', pid, timeUs, exitCode, signal: match[2] })
  }

  #call(pid: number, timeUs: number, name: string, body: string): void {
    const split = splitArguments(body)
    if (!split) return
    const result = resultPattern.exec(body.slice(split.end))
    if (!result) return

    const event: SyscallEvent = {
      kind: 'syscall',
      pid,
      timeUs,
      name,
      args: split.args,
      result: result[1] === '?' ? undefined : Number(result[1]),
    }
    if (result[2] !== undefined) event.resultPath = decodeStraceString(result[2])
    this.#onEvent(event)
  }
}

/**
 * Splits the text after a syscall's `(` into its top-level arguments, honouring quoted
 * strings, brackets, braces, `/* comments *\/` and `-y` path annotations (`3</a,b>`), and
 * returns the index just past the closing `)`. Undefined when the text has no closing `)`.
 */
export function splitArguments(body: string): { args: string[]; end: number } | undefined {
  const args: string[] = []
  let depth = 0
  let start = 0

  for (let i = 0; i < body.length; i++) {
    const char = body[i]
    if (char === '"') {
      i = skipQuoted(body, i + 1, '"')
    } else if (char === '<' && i > 0 && /\w/.test(body[i - 1])) {
      i = skipQuoted(body, i + 1, '>')
    } else if (char === '/' && body[i + 1] === '*') {
      const close = body.indexOf('*/', i + 2)
      i = close < 0 ? body.length : close + 1
    } else if (char === '(' || char === '[' || char === '{') {
      depth++
    } else if (char === ']' || char === '}') {
      depth--
    } else if (char === ')') {
      if (depth === 0) {
        const last = body.slice(start, i).trim()
        if (last !== '' || args.length > 0) args.push(last)
        return { args, end: i + 1 }
      }
      depth--
    } else if (char === ',' && depth === 0) {
      args.push(body.slice(start, i).trim())
      start = i + 1
    }
  }
  return undefined
}

/** Index of the closing `close` character, stepping over backslash escapes. */
function skipQuoted(text: string, from: number, close: string): number {
  for (let i = from; i < text.length; i++) {
    if (text[i] === '\\') i++
    else if (text[i] === close) return i
  }
  return text.length
}

/** Parses a descriptor argument such as `3</games/x/a.pak>`, `AT_FDCWD</home/u>` or `-1`. */
export function parseFdArgument(arg: string | undefined): FdArgument | undefined {
  const match = /^(-?\d+|AT_FDCWD)(?:<(.*)>)?$/.exec(arg ?? '')
  if (!match) return undefined
  const fd = match[1] === 'AT_FDCWD' ? -100 : Number(match[1])
  return match[2] === undefined ? { fd } : { fd, path: decodeStraceString(match[2]) }
}

const simpleEscapes: Record<string, number> = {
  n: 10,
  t: 9,
  r: 13,
  v: 11,
  f: 12,
  a: 7,
  b: 8,
  e: 27,
}

/**
 * Decodes strace's C-style escapes (`\"`, `\\`, `\n`, octal `\303\251`, hex `\xc3`) into the
 * UTF-8 text they stand for. Quotes around the text, if any, must already be removed.
 */
export function decodeStraceString(text: string): string {
  if (!text.includes('\\')) return text

  const bytes: number[] = []
  let plainFrom = 0
  for (let i = text.indexOf('\\'); i >= 0 && i < text.length; i = text.indexOf('\\', i)) {
    bytes.push(...Buffer.from(text.slice(plainFrom, i), 'utf8'))
    const next = text[i + 1] ?? ''
    const octal = /^[0-7]{1,3}/.exec(text.slice(i + 1, i + 4))
    const hex = /^x([0-9a-fA-F]{2})/.exec(text.slice(i + 1, i + 4))
    if (octal) {
      bytes.push(Number.parseInt(octal[0], 8) & 0xff)
      i += 1 + octal[0].length
    } else if (hex) {
      bytes.push(Number.parseInt(hex[1], 16))
      i += 4
    } else {
      bytes.push(simpleEscapes[next] ?? next.charCodeAt(0))
      i += 2
    }
    plainFrom = i
  }
  bytes.push(...Buffer.from(text.slice(plainFrom), 'utf8'))
  return Buffer.from(bytes).toString('utf8')
}

/** Parses a numeric argument as strace prints it (`4096`, `0x1000`, `-50`); NaN otherwise. */
export function parseNumber(arg: string | undefined): number {
  if (arg === undefined || !/^-?(?:\d+|0x[0-9a-fA-F]+)$/.test(arg)) return Number.NaN
  return arg.startsWith('-') ? -Number(arg.slice(1)) : Number(arg)
}

/** Reads an in/out offset pointer (`NULL`, `[400]` or `[400] => [430]`): the offset used. */
export function parseOffsetPointer(arg: string | undefined): number | undefined {
  const match = /^\[(\d+)\]/.exec(arg ?? '')
  return match ? Number(match[1]) : undefined
}
