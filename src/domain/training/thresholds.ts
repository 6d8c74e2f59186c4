/**
 * When an app's collected traces are processed by themselves (API.md section 7). The rule is
 * applied by the app's coordinator after each fold of new traces; a manual `processTraces`
 * skips it.
 */
import type { TrainingSettings } from '../apps/training-settings'

/** The figures the rule reads. */
export interface ThresholdFigures {
  nTraces: number
  nNewTraces: number
  coverage: number
  traceTimeSec: number
}

/**
 * True when an automatic `mkdxf` run is due: uploads are on, enough traces exist to trust an
 * order, enough arrived since the last run, they cover enough of the build and enough time,
 * and coverage has not yet reached the point where training stops.
 */
export function processingDue(settings: TrainingSettings, figures: ThresholdFigures): boolean {
  return (
    settings.uploadTrace &&
    figures.nTraces >= settings.nTracesReliable &&
    figures.nNewTraces >= settings.nProcessTracesMin &&
    figures.coverage >= settings.minCoverage &&
    figures.traceTimeSec >= settings.minTraceTimeSec &&
    figures.coverage < settings.maxCoverage
  )
}
