/**
 * Following the tasks of an import (mkraw, deploy) through the API the way a publisher would,
 * counting how long the service kept each poll waiting and telling a stalled task apart.
 */
import { ApiCallError, type ApiClient } from '../../cli/api-client'
import { getTask, type TaskView } from '../../cli/commands/task-wait'
import type { MemorySample, MemorySampler } from './import-memory'

/** A task with the times the API shows. */
export type TimedTask = TaskView & { created: string; started: string | null; ended: string | null }

/** How the API answered the polls of a task: the longest wait for one answer. */
export interface PollStats {
  polls: number
  /** Polls that got no answer (the client's 300 s header timeout, or a refused connection). */
  unanswered: number
  longestSec: number
}

/** A task that stopped moving: no new progress for the stall limit. */
export class TaskStalled extends Error {
  override name = 'TaskStalled'
}

/**
 * Polls a task every 250 ms until it ends, calling `onView` with each view. A poll the
 * service does not answer is counted and tried again: a step that keeps the runtime busy
 * delays every request (workerd runs the Worker on one thread). Throws {@link TaskStalled}
 * when the task's progress has not moved for `stallMs`, and gives up after `timeoutMs`.
 */
export async function watchTask(
  client: ApiClient,
  taskName: string,
  opts: {
    timeoutMs: number
    stallMs: number
    stats: PollStats
    onView?: (task: TimedTask) => void
  },
): Promise<TimedTask> {
  const deadline = Date.now() + opts.timeoutMs
  let last: TimedTask | undefined
  let moved = Date.now()
  let seen = ''
  for (;;) {
    const asked = Date.now()
    try {
      last = (await getTask(client, taskName)) as TimedTask
      opts.onView?.(last)
    } catch (error) {
      if (!(error instanceof ApiCallError) || error.status !== 0) throw error
      opts.stats.unanswered++
    }
    opts.stats.polls++
    opts.stats.longestSec = Math.max(opts.stats.longestSec, (Date.now() - asked) / 1000)
    if (last && last.state !== 'submitted' && last.state !== 'running') return last
    const now = `${last?.state} ${last?.progress}`
    if (now !== seen) {
      seen = now
      moved = Date.now()
    }
    const where = `${taskName} is ${last?.state ?? 'unknown'} at progress ${last?.progress ?? '?'}`
    if (Date.now() - moved > opts.stallMs) {
      throw new TaskStalled(
        `${where} and has not moved for ${Math.round((Date.now() - moved) / 1000)} s ` +
          `(${opts.stats.unanswered} polls unanswered, longest wait ${opts.stats.longestSec} s)`,
      )
    }
    if (Date.now() > deadline) throw new Error(`${where} after ${opts.timeoutMs / 1000} s`)
    await new Promise((done) => setTimeout(done, 250))
  }
}

/** CPU seconds the runtime used in the last `seconds` of samples: is it working or idle? */
export function recentRuntimeCpu(samples: MemorySample[], seconds: number): number | undefined {
  const end = samples.at(-1)
  const from = end && samples.find((sample) => sample.t >= end.t - seconds)
  const last = end?.memory.runtime?.cpuSec
  const first = from?.memory.runtime?.cpuSec
  return last === undefined || first === undefined ? undefined : last - first
}

/** When mkraw's progress passed the end of the scan (0.4) and of the image (0.8), epoch ms. */
export interface MkrawMarks {
  scanEnd?: number
  imageEnd?: number
}

/**
 * Follows the mkraw task to its end, naming its phase in the sampler (scan, image, finish)
 * from its progress: the scan is 0 to 0.4, the image 0.4 to 0.8 (docs/builds.md).
 */
export async function followMkraw(
  client: ApiClient,
  taskName: string,
  opts: {
    sampler: MemorySampler
    stats: PollStats
    timeoutMs: number
    stallMs: number
    log: (line: string) => void
  },
): Promise<{ task: TimedTask; marks: MkrawMarks }> {
  const marks: MkrawMarks = {}
  let told = -1
  const task = await watchTask(client, taskName, {
    timeoutMs: opts.timeoutMs,
    stallMs: opts.stallMs,
    stats: opts.stats,
    onView(view) {
      if (view.progress >= 0.4 && marks.scanEnd === undefined) marks.scanEnd = Date.now()
      if (view.progress >= 0.8 && marks.imageEnd === undefined) marks.imageEnd = Date.now()
      opts.sampler.phase =
        marks.imageEnd !== undefined ? 'finish' : marks.scanEnd !== undefined ? 'image' : 'scan'
      const tenth = Math.floor(view.progress * 10)
      if (tenth !== told) {
        opts.log(`bench:   mkraw ${view.state} ${Math.round(view.progress * 100)}%`)
        told = tenth
      }
    },
  })
  return { task, marks }
}
