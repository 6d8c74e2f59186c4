/**
 * One HTTP attempt of a webhook delivery. Any 2xx answer counts as delivered; anything else (a
 * non-2xx or redirect, a network error, no answer in time) is a failure with a reason to record.
 * Redirects are not followed: a receiver could otherwise bounce the call to an address the
 * target rule refuses.
 */
import { versions } from '../version'

/** How long a receiver has to answer, in milliseconds. */
export const DELIVERY_TIMEOUT_MS = 10_000

/** What an attempt produced. */
export interface AttemptResult {
  delivered: boolean
  /** The receiver's HTTP status, or null when none came. */
  status: number | null
  /** Why it failed, or null when delivered. */
  error: string | null
}

const SNIPPET_BYTES = 200

/** The first bytes of an answer body, to help a receiver's owner see why it refused. */
async function snippet(response: Response): Promise<string> {
  if (!response.body) return ''
  const reader = response.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  try {
    while (size < SNIPPET_BYTES) {
      const { done, value } = await reader.read()
      if (done) break
      chunks.push(value)
      size += value.byteLength
    }
  } finally {
    await reader.cancel().catch(() => {})
  }
  const bytes = new Uint8Array(size)
  let at = 0
  for (const chunk of chunks) {
    bytes.set(chunk, at)
    at += chunk.byteLength
  }
  return new TextDecoder().decode(bytes.subarray(0, SNIPPET_BYTES)).replace(/\s+/g, ' ').trim()
}

/** POSTs `body` to `url` with `headers`, giving up after `timeoutMs`. Never throws. */
export async function postEvent(
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs = DELIVERY_TIMEOUT_MS,
): Promise<AttemptResult> {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), timeoutMs)
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': `rockit-edge-webhooks/${versions.service}`,
        ...headers,
      },
      body,
      redirect: 'manual',
      signal: controller.signal,
    })
    if (response.status >= 200 && response.status < 300) {
      await response.body?.cancel().catch(() => {})
      return { delivered: true, status: response.status, error: null }
    }
    const text = await snippet(response).catch(() => '')
    const error = `receiver answered HTTP ${response.status}${text ? `: ${text}` : ''}`
    return { delivered: false, status: response.status, error }
  } catch (error) {
    if (controller.signal.aborted) {
      return { delivered: false, status: null, error: `no answer within ${timeoutMs / 1000} s` }
    }
    return {
      delivered: false,
      status: null,
      error: `network error: ${(error as Error)?.message ?? String(error)}`,
    }
  } finally {
    clearTimeout(timer)
  }
}
