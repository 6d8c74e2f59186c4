/**
 * Structured logs: one JSON line per event with a level and facts. Callers never pass secrets,
 * passwords, tokens or trace contents.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

const rank: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 }

export interface Logger {
  debug(msg: string, facts?: Record<string, unknown>): void
  info(msg: string, facts?: Record<string, unknown>): void
  warn(msg: string, facts?: Record<string, unknown>): void
  error(msg: string, facts?: Record<string, unknown>): void
  /** A logger whose lines also carry `facts` (e.g. the task name). */
  with(facts: Record<string, unknown>): Logger
}

/** A logger writing JSON lines to the console at `level` and above. */
export function createLogger(
  level: LogLevel = 'info',
  bound: Record<string, unknown> = {},
): Logger {
  const write = (at: LogLevel, msg: string, facts?: Record<string, unknown>) => {
    if (rank[at] < rank[level]) return
    const line = JSON.stringify({
      time: new Date().toISOString(),
      level: at,
      msg,
      ...bound,
      ...facts,
    })
    if (at === 'error') console.error(line)
    else if (at === 'warn') console.warn(line)
    else console.log(line)
  }
  return {
    debug: (msg, facts) => write('debug', msg, facts),
    info: (msg, facts) => write('info', msg, facts),
    warn: (msg, facts) => write('warn', msg, facts),
    error: (msg, facts) => write('error', msg, facts),
    with: (facts) => createLogger(level, { ...bound, ...facts }),
  }
}
