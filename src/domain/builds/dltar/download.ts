/**
 * One ranged GET of a build's URL, as a dltar step makes it: redirects followed by hand so each
 * hop passes the target check, and a timer that aborts the transfer when no progress is made
 * for `timeoutMs` (re-armed by the caller after each part). Network failures become task
 * failures with a curl-style `exitCode` (7 could not connect, 28 timed out, 47 too many
 * redirects, 56 failure while receiving), the codes a CI log reader already knows.
 */

import { TaskFailure } from '../../../tasks/types'
import { type TargetCheckOptions, targetProblem } from '../../net/target-check'

/** Redirects followed before giving up. */
const MAX_REDIRECTS = 5

const REDIRECTS = new Set([301, 302, 303, 307, 308])

export interface DownloadOptions {
  timeoutMs: number
  target: TargetCheckOptions
}

/** An open response and its watchdog. */
export interface OpenDownload {
  response: Response
  /** Restarts the no-progress timer. */
  arm(): void
  /** Stops the timer and drops the connection. */
  close(): void
  timedOut(): boolean
}

/** The URL without query and fragment: those may hold signatures and never go to logs. */
export function safeUrl(raw: string): string {
  try {
    const url = new URL(raw)
    return `${url.origin}${url.pathname}`
  } catch {
    return '(invalid URL)'
  }
}

/** The task failure for a transfer that broke; `stage` says whether it had connected. */
export function networkFailure(
  url: string,
  error: unknown,
  timedOut: boolean,
  stage: 'connect' | 'receive',
): TaskFailure {
  const exitCode = timedOut ? 28 : stage === 'connect' ? 7 : 56
  const what = timedOut
    ? 'timed out'
    : stage === 'connect'
      ? 'could not connect'
      : 'broke while receiving'
  return new TaskFailure({
    code: 'downloadFailed',
    message: `download of ${safeUrl(url)} ${what}: ${String(error)}`,
    exitCode,
  })
}

/** GETs bytes `first ..= last` (to the end without `last`) of `url`. */
export async function openDownload(
  url: string,
  range: { first: number; last?: number },
  options: DownloadOptions,
): Promise<OpenDownload> {
  const controller = new AbortController()
  let timer: ReturnType<typeof setTimeout> | undefined
  let expired = false
  const arm = () => {
    clearTimeout(timer)
    timer = setTimeout(() => {
      expired = true
      controller.abort(new Error(`no progress for ${options.timeoutMs} ms`))
    }, options.timeoutMs)
  }
  const close = () => {
    clearTimeout(timer)
    controller.abort()
  }
  const rangeHeader = `bytes=${range.first}-${range.last ?? ''}`

  arm()
  let target = url
  for (let hop = 0; ; hop++) {
    const problem = targetProblem(target, options.target)
    if (problem) {
      close()
      throw new TaskFailure({
        code: 'downloadFailed',
        message: `the build URL ${safeUrl(target)} is refused: it ${problem}`,
      })
    }
    let response: Response
    try {
      response = await fetch(target, {
        headers: { Range: rangeHeader },
        redirect: 'manual',
        signal: controller.signal,
      })
    } catch (error) {
      clearTimeout(timer)
      throw networkFailure(target, error, expired, 'connect')
    }
    const location = response.headers.get('location')
    if (!REDIRECTS.has(response.status) || !location) {
      return { response, arm, close, timedOut: () => expired }
    }
    await response.body?.cancel()
    if (hop >= MAX_REDIRECTS) {
      close()
      throw new TaskFailure({
        code: 'downloadFailed',
        message: `download of ${safeUrl(url)} redirected more than ${MAX_REDIRECTS} times`,
        exitCode: 47,
      })
    }
    target = new URL(location, target).href
  }
}
