/** Where a progress bar draws: stderr, or anything with the same few members. */
export interface ProgressStream {
  isTTY?: boolean
  columns?: number
  write(text: string): unknown
}

export interface ProgressOptions {
  /** Shown before the bar, e.g. `packing game.tar`. */
  label: string
  /** The amount that means done (bytes by default). */
  total: number
  /** How amounts are shown: `bytes` (KiB, MiB, GiB) or plain `count`. Default `bytes`. */
  unit?: 'bytes' | 'count'
  /** Default `process.stderr`. Nothing is drawn unless it is a TTY. */
  stream?: ProgressStream
  /** Least time between two redraws, in ms. Default 100. */
  intervalMs?: number
}

/** A progress bar that redraws one line in place. */
export interface Progress {
  /** Sets how much is done so far. */
  update(done: number): void
  /** Draws the final state and ends the line. */
  finish(): void
}

/**
 * A progress bar on stderr that stays silent when stderr is not a terminal, so logs and pipes
 * get no control characters.
 *
 * @example
 * const progress = createProgress({ label: 'packing game.tar', total: bytes })
 * progress.update(written)
 * progress.finish()
 */
export function createProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr
  if (!stream.isTTY) return { update() {}, finish() {} }

  const intervalMs = options.intervalMs ?? 100
  const show = options.unit === 'count' ? String : formatBytes
  let done = 0
  let drawnAt = Number.NEGATIVE_INFINITY

  function draw(): void {
    const fraction = options.total > 0 ? Math.min(1, done / options.total) : 1
    const figures = `${Math.floor(fraction * 100)}% ${show(done)}/${show(options.total)}`
    const room = (stream.columns ?? 80) - options.label.length - figures.length - 5
    const width = Math.max(10, Math.min(40, room))
    const filled = Math.round(fraction * width)
    const bar = '#'.repeat(filled) + '.'.repeat(width - filled)
    stream.write(`\r${options.label} [${bar}] ${figures}\x1b[K`)
    drawnAt = Date.now()
  }

  return {
    update(value: number) {
      done = value
      if (Date.now() - drawnAt >= intervalMs) draw()
    },
    finish() {
      draw()
      stream.write('\n')
    },
  }
}

/** `1536` -> `1.5 KiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`
}
