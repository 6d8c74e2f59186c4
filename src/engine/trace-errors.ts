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
