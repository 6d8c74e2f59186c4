/** The shapes of a trace, as uploaded (`rockit-trace/1`) and as the engine keeps it. */

/** The trace format this engine reads. */
export const TRACE_FORMAT = 'rockit-trace/1'

/** Line 1 of a trace file. */
export interface TraceHeader {
  format: typeof TRACE_FORMAT
  /** 1..200 characters; the same session uploaded twice is the same trace. */
  sessionId: string
  /** The build the session ran; the app's current build when absent. */
  buildName?: string
  /**
   * The image of that build the `"@"` reads' offsets refer to (`dxf-0001-02`); the build's
   * current image when absent. A launcher still streaming an image that training has since
   * replaced names it here, so its offsets are mapped through the order it streamed.
   */
  dxfName?: string
  /** Length of the session in milliseconds (the "trace time"). */
  durationMs: number
  /** Whether this was the first session of the app on that machine. */
  firstSession?: boolean
}

/** A read line: `[tMs, path, offset, length]`, path `'@'` meaning an offset in the image. */
export type TraceRead = [tMs: number, path: string, offset: number, length: number]

/**
 * The part of a trace the ordering needs: each block the session touched, once, at the time
 * of its first access, sorted by time and then by block index. Later reads of a block never
 * change how far into the image a launcher must be, so nothing else is kept.
 */
export interface FirstAccess {
  blocks: Uint32Array
  tMs: Uint32Array
}

/** A trace reduced to its header and first accesses: what is stored and aggregated. */
export interface NormalisedTrace {
  header: TraceHeader
  firstAccess: FirstAccess
}
