/**
 * The six training settings of an app (API.md, Training): when collected traces are processed and
 * whether launchers may upload them. Set when the app is created, changed by
 * `PATCH /be/v1/trainings`, stored as JSON on the app row.
 */
import { invalidParam } from '../../http/errors'

export interface TrainingSettings {
  /** Traces needed before untraced data goes to the end of an image. */
  nTracesReliable: number
  /** Coverage a run needs, 0..1. */
  minCoverage: number
  /** Coverage above which runs stop, 0..1. */
  maxCoverage: number
  /** Total trace time a run needs, in seconds. */
  minTraceTimeSec: number
  /** New traces since the last run that a run needs. */
  nProcessTracesMin: number
  /** Whether launchers may upload traces. */
  uploadTrace: boolean
}

/** Defaults of API.md: 30, 0.2, 0.6, 1800, 30, true. */
export const DEFAULT_TRAINING: Readonly<TrainingSettings> = {
  nTracesReliable: 30,
  minCoverage: 0.2,
  maxCoverage: 0.6,
  minTraceTimeSec: 1800,
  nProcessTracesMin: 30,
  uploadTrace: true,
}

/**
 * Applies `change` to `current` and checks what one field alone cannot: `minCoverage <=
 * maxCoverage`. The 400 names `minCoverage` when the change sets it, else `maxCoverage` (the
 * field the caller sent against the stored one); `fieldPrefix` goes before the name
 * (`training.` inside an app body).
 */
export function mergeTraining(
  current: TrainingSettings,
  change: Partial<TrainingSettings>,
  fieldPrefix = '',
): TrainingSettings {
  const merged = { ...current }
  for (const [name, value] of Object.entries(change)) {
    if (value !== undefined) Object.assign(merged, { [name]: value })
  }
  const { minCoverage, maxCoverage } = merged
  if (minCoverage > maxCoverage) {
    throw invalidParam([
      change.minCoverage !== undefined
        ? {
            field: `${fieldPrefix}minCoverage`,
            reason: `must be <= maxCoverage (${minCoverage} > ${maxCoverage})`,
          }
        : {
            field: `${fieldPrefix}maxCoverage`,
            reason: `must be >= minCoverage (${maxCoverage} < ${minCoverage})`,
          },
    ])
  }
  return merged
}

/** The settings stored on an app row; anything missing takes its default. */
export function parseTraining(stored: string | null): TrainingSettings {
  const parsed = stored ? (JSON.parse(stored) as Partial<TrainingSettings>) : {}
  return { ...DEFAULT_TRAINING, ...parsed }
}
