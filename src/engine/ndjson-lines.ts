/**
 * Splits a byte stream into text lines. A newline byte never occurs inside a multi-byte UTF-8
 * character, so each chunk is cut after its last newline and its complete lines are decoded
 * in one call (a call per line would cost more than parsing). Only when that fails are the
 * lines decoded one by one, to name the line with invalid UTF-8.
 */
import { TraceError } from './trace-errors'

const NEWLINE = 0x0a
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })

/**
 * Feeds lines (without the line end, CR LF or LF) to `onLine` with their number, from
 * `firstLine` (default 1).
 */
export class LineSplitter {
  private pending: Uint8Array[] = []
  private pendingBytes = 0
  private lineNo: number

  constructor(
    private readonly onLine: (line: string, lineNo: number) => void,
    firstLine = 1,
  ) {
    this.lineNo = firstLine - 1
  }

  /** Number of the line being read (the last one completed, plus one). */
  get currentLine(): number {
    return this.lineNo + 1
  }

  push(chunk: Uint8Array): void {
    const last = chunk.lastIndexOf(NEWLINE)
    if (last === -1) {
      this.keep(chunk)
      return
    }
    const complete = this.joined(chunk.subarray(0, last))
    for (const line of this.decode(complete).split('\n')) this.emit(line)
    this.keep(chunk.subarray(last + 1))
  }

  /** Ends the input: a last line without a newline still counts. */
  end(): void {
    if (this.pendingBytes > 0) this.emit(this.decode(this.joined(new Uint8Array(0))))
  }

  private keep(bytes: Uint8Array): void {
    if (bytes.length === 0) return
    this.pending.push(bytes.slice())
    this.pendingBytes += bytes.length
  }

  private joined(tail: Uint8Array): Uint8Array {
    if (this.pending.length === 0) return tail
    const bytes = new Uint8Array(this.pendingBytes + tail.length)
    let at = 0
    for (const piece of this.pending) {
      bytes.set(piece, at)
      at += piece.length
    }
    bytes.set(tail, at)
    this.pending = []
    this.pendingBytes = 0
    return bytes
  }

  private decode(bytes: Uint8Array): string {
    try {
      return decoder.decode(bytes)
    } catch {
      let line = this.lineNo + 1
      let start = 0
      for (let end = bytes.indexOf(NEWLINE); end !== -1; end = bytes.indexOf(NEWLINE, start)) {
        if (!isUtf8(bytes.subarray(start, end))) break
        start = end + 1
        line++
      }
      throw new TraceError(line, 'the text is not valid UTF-8')
    }
  }

  private emit(text: string): void {
    this.lineNo++
    this.onLine(text.endsWith('\r') ? text.slice(0, -1) : text, this.lineNo)
  }
}

function isUtf8(bytes: Uint8Array): boolean {
  try {
    decoder.decode(bytes)
    return true
  } catch {
    return false
  }
}
