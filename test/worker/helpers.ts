/**
 * Test helpers: requests through the Worker's own fetch, admin tokens, and the usual fixtures
 * (an org with its admin logged in). Each helper asserts the status it expects so a broken
 * fixture fails where it breaks.
 */
import { SELF } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { expect } from 'vitest'
import { signAdminToken } from '../../src/domain/auth/admin-token'

export const BASE = 'http://edge.test'

export interface CallOptions {
  body?: unknown
  headers?: Record<string, string>
  /** Raw body (then no JSON content type is added unless given). */
  raw?: BodyInit
}

/** A JSON response with its status, headers and parsed body. */
export interface Answer {
  status: number
  headers: Headers
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON
  body: any
}

/** Calls the Worker and parses its JSON answer. */
export async function call(
  method: string,
  path: string,
  options: CallOptions = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers }
  let body: BodyInit | undefined = options.raw
  if (options.body !== undefined) {
    body = JSON.stringify(options.body)
    headers['content-type'] ??= 'application/json'
  }
  const response = await SELF.fetch(`${BASE}${path}`, { method, headers, body })
  const text = await response.text()
  let parsed: unknown = text
  try {
    parsed = text ? JSON.parse(text) : null
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, headers: response.headers, body: parsed }
}

/** An admin token for the test instance's secret. */
export function adminToken(username = 'operator'): Promise<string> {
  return signAdminToken(env.EDGE_ADMIN_SECRET, username)
}

/** Headers of an admin call. */
export async function adminHeaders(username = 'operator') {
  return { 'x-rockit-admin-token': await adminToken(username) }
}

/** Polls a task through the admin API until it leaves `submitted`/`running`. */
export async function waitForTask(taskName: string, timeoutMs = 20_000) {
  const headers = await adminHeaders()
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const answer = await call('GET', `/adm/v1/tasks/${taskName}`, { headers })
    expect(answer.status).toBe(200)
    const task = answer.body.task
    if (!['submitted', 'running'].includes(task.state)) return task
    if (Date.now() > deadline)
      throw new Error(`task ${taskName} still ${task.state} after ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
