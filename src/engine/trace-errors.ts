/**
 * The two ways a trace upload is refused: content that does not fit the build (HTTP 422,
 * naming the line) and a trace beyond the size limits (HTTP 413).
 */

/**
 * A trace that is well-formed enough to read but unusable: broken JSON, a wrong shape, an
 * unknown path, a read outside a file or the image, or a time going back. `line` counts
 * from 1 (the header).
 *
 * @example new TraceError(3, 'unknown path "x.pak"').message // 'line 3: unknown path "x.pak"'
 */
export class TraceError extends Error {
  readonly line: number
  readonly reason: string

  constructor(line: number, reason: string) {
    super(`line ${line}: ${reason}`)
    this.name = 'TraceError'
    this.line = line
    this.reason = reason
  }
}

/** Characters of a trace's value an error message repeats before cutting it. */
export const ECHO_MAX_CHARS = 100

/**
 * `value` quoted for an error message, cut after {@link ECHO_MAX_CHARS} characters so a huge
 * header field or path is not sent back whole (it is echoed in the message and the details).
 *
 * @example
 * quoted('late.pak') // '"late.pak"'
 * quoted('x'.repeat(150)) // '"xx…x…" (150 characters)': the first 100 x's, then "…"
 */
export function quoted(value: string): string {
  if (value.length <= ECHO_MAX_CHARS) return JSON.stringify(value)
  let head = value.slice(0, ECHO_MAX_CHARS)
  // Never end on half of a surrogate pair.
  if (/[\ud800-\udbff]$/.test(head)) head = head.slice(0, -1)
  return `${JSON.stringify(`${head}…`)} (${value.length} characters)`
}

/** Which limit a trace went over. */
export type TraceLimit = 'tooLarge' | 'tooManyReads'

/** A trace over a limit: more than `maxBytes` uncompressed, or more than `maxReads` reads. */
export class TraceLimitError extends Error {
  readonly limit: TraceLimit
  readonly max: number

  constructor(limit: TraceLimit, max: number) {
    super(
      limit === 'tooLarge'
        ? `trace is larger than ${max} bytes uncompressed`
        : `trace has more than ${max} reads`,
    )
    this.name = 'TraceLimitError'
    this.limit = limit
    this.max = max
  }
}
