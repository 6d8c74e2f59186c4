/**
 * Helpers of the account tests (auth, users, roles, API keys, orgs): roles and users made through
 * the Backend API, and sign-in through login + auth. Every helper asserts the status it expects.
 */
import { env } from 'cloudflare:workers'
import { eq } from 'drizzle-orm'
import { expect } from 'vitest'
import { dbOf } from '../../src/db/client'
import { sessions } from '../../src/db/schema'
import { sha256Hex } from '../../src/domain/auth/secrets'
import type { OrgFixture } from './fixtures'
import { call } from './helpers'

let addressCounter = 0

/** A client address of its own, so login counters of one test never reach another's. */
export function freshAddress(): string {
  addressCounter++
  return `203.0.${Math.floor(addressCounter / 250)}.${addressCounter % 250}`
}

/** Makes a role through the API with the org admin's key. */
export async function makeRole(org: OrgFixture, name: string, permissions: Record<string, number>) {
  const answer = await call('POST', '/be/v1/roles', {
    headers: org.headers,
    body: { name, permissions },
  })
  expect(answer.status).toBe(201)
  return answer.body.role
}

/** Makes a human user holding `roles` through the API; returns its initial password. */
export async function makeHuman(org: OrgFixture, username: string, roles: string[] = []) {
  const answer = await call('POST', '/be/v1/users', {
    headers: org.headers,
    body: { username, email: `${username}@example.com`, firstname: 'Test', surname: 'User', roles },
  })
  expect(answer.status).toBe(201)
  return answer.body.password as string
}

/** Makes a machine user holding `roles`; returns its three API-key headers. */
export async function makeMachine(org: OrgFixture, username: string, roles: string[] = []) {
  const answer = await call('POST', '/be/v1/users', {
    headers: org.headers,
    body: { username, label: `${username} robot`, roles },
  })
  expect(answer.status).toBe(201)
  return {
    'x-rockit-orgname': org.orgName,
    'x-rockit-username': username,
    'x-rockit-api-key': answer.body.apiKey as string,
  }
}

/** Logs in and opens an auth token; returns both tokens and the auth header. */
export async function signIn(orgName: string, username: string, password: string) {
  const login = await call('POST', '/be/v1/login', {
    headers: { 'cf-connecting-ip': freshAddress() },
    body: { orgName, username, password },
  })
  expect(login.status).toBe(200)
  const sessionToken = login.body.besessionToken as string
  const auth = await call('POST', '/be/v1/auth', {
    headers: { 'x-rockit-besession-token': sessionToken },
  })
  expect(auth.status).toBe(200)
  const authToken = auth.body.beauthToken as string
  return { sessionToken, authToken, headers: { 'x-rockit-beauth-token': authToken } }
}

/** Sets the expiry of a session or auth token in D1 (the clock of D1 cannot be faked). */
export async function setTokenExpiry(token: string, expires: string) {
  await dbOf(env)
    .update(sessions)
    .set({ expires })
    .where(eq(sessions.hash, await sha256Hex(token)))
}
