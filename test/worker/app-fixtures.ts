/**
 * Fixtures of the app, task and depot tests. Builds, images, patches, deployments and tasks are
 * written straight into D1 and R2 here, the way their own modules store them, so these tests do
 * not wait for the build pipeline.
 */
import { env } from 'cloudflare:workers'
import { and, eq } from 'drizzle-orm'
import { expect } from 'vitest'
import { dbOf } from '../../src/db/client'
import {
  apps,
  builds,
  deployments,
  orgs,
  patches,
  roles,
  tasks,
  userRoles,
  users,
} from '../../src/db/schema'
import { newId, sha256Hex } from '../../src/domain/auth/secrets'
import { buildIdText, imageKeys, patchKey } from '../../src/storage/keys'
import { apiKeyHeaders, type OrgFixture } from './fixtures'
import { call } from './helpers'

let counter = 0

/** A unique app name. */
export function appName(prefix = 'game'): string {
  counter++
  return `${prefix}_${counter}_${Math.random().toString(36).slice(2, 6)}`
}

/** Creates an app through the API and returns its name, trace key and row ids. */
export async function newApp(org: OrgFixture, body: Record<string, unknown> = {}) {
  const name = (body.name as string | undefined) ?? appName()
  const answer = await call('POST', '/be/v1/apps', {
    headers: org.headers,
    body: { name, label: `Label of ${name}`, ...body },
  })
  expect(answer.status).toBe(201)
  const ids = await appIds(org.orgName, name)
  return { name, traceKey: answer.body.traceKey as string, app: answer.body.app, ...ids }
}

/** The ids of an app by names. */
export async function appIds(orgName: string, name: string) {
  const row = await dbOf(env)
    .select({ orgId: orgs.id, appId: apps.id })
    .from(apps)
    .innerJoin(orgs, eq(orgs.id, apps.orgId))
    .where(and(eq(orgs.name, orgName), eq(apps.name, name)))
    .get()
  if (!row) throw new Error(`no app ${orgName}/${name}`)
  return row
}

/** The id of an org by name. */
export async function orgIdOf(orgName: string): Promise<string> {
  const row = await dbOf(env).select({ id: orgs.id }).from(orgs).where(eq(orgs.name, orgName)).get()
  if (!row) throw new Error(`no org ${orgName}`)
  return row.id
}

/** A machine user holding one role with `permissions`, and its API-key headers. */
export async function userWithPermissions(orgName: string, permissions: Record<string, number>) {
  const db = dbOf(env)
  const orgId = await orgIdOf(orgName)
  const roleId = newId()
  const userId = newId()
  counter++
  const username = `robot_${counter}`
  await db.insert(roles).values({
    id: roleId,
    orgId,
    name: `role_${counter}`,
    permissions: JSON.stringify(permissions),
  })
  await db.insert(users).values({ id: userId, orgId, username, machine: true, label: 'test' })
  await db.insert(userRoles).values({ userId, roleId })
  return apiKeyHeaders(orgName, username)
}

/** A deployment row of the org (only its name matters to apps). */
export async function insertDeployment(orgName: string, name: string) {
  await dbOf(env)
    .insert(deployments)
    .values({
      id: newId(),
      orgId: await orgIdOf(orgName),
      name,
      originPrefix: 'games',
      origin: JSON.stringify({ type: 'r2' }),
    })
}

export interface BuildFixture {
  orgId: string
  appId: string
  buildId: number
  state?: string
  sizeBytes?: number
  files?: number
  dxfName?: string | null
  /** Make it the app's current build. */
  current?: boolean
}

/** A build row (and optionally the app's current build pointing at it). */
export async function insertBuild(fixture: BuildFixture) {
  const db = dbOf(env)
  const dxfName =
    fixture.dxfName === undefined ? `dxf-${buildIdText(fixture.buildId)}-01` : fixture.dxfName
  await db.insert(builds).values({
    id: newId(),
    orgId: fixture.orgId,
    appId: fixture.appId,
    buildId: fixture.buildId,
    buildName: `build-${buildIdText(fixture.buildId)}`,
    state: fixture.state ?? 'ready',
    sizeBytes: fixture.sizeBytes ?? 1000 * fixture.buildId,
    files: fixture.files ?? 3,
    blockSize: 65536,
    dxfName,
  })
  if (fixture.current) {
    await db
      .update(apps)
      .set({ iCurBuild: fixture.buildId, dxfName })
      .where(eq(apps.id, fixture.appId))
  }
  return dxfName
}

/** Bytes 0..n-1 of a recognisable pattern. */
export function patternBytes(n: number, seed = 7): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) % 251)
}

/** Writes `image.dxf` (with its sha256 in customMetadata unless told not to) and `profile.json`. */
export async function putImage(
  orgId: string,
  appId: string,
  dxfName: string,
  bytes: Uint8Array,
  withSha256 = true,
) {
  const keys = imageKeys(orgId, appId, dxfName)
  const sha256 = await sha256Hex(bytes)
  await env.BUCKET.put(keys.image, bytes, {
    customMetadata: withSha256 ? { sha256 } : undefined,
  })
  await env.BUCKET.put(keys.profile, JSON.stringify({ bandwidths: [25, 100, 1000] }))
  return { sha256, keys }
}

/** A patch row and its object. */
export async function insertPatch(
  orgId: string,
  appId: string,
  toBuildId: number,
  fromBuildId: number,
  bytes: Uint8Array,
) {
  const key = patchKey(orgId, appId, toBuildId, fromBuildId)
  await env.BUCKET.put(key, bytes)
  await dbOf(env).insert(patches).values({
    id: newId(),
    appId,
    fromBuildId,
    toBuildId,
    sizeBytes: bytes.length,
    key,
  })
  return key
}

export interface TaskFixture {
  orgId: string | null
  appId?: string | null
  appName?: string | null
  buildName?: string | null
  type: string
  state: string
  created?: string
  warnings?: { code: string; message: string; acknowledged: boolean }[]
  exception?: Record<string, unknown>
  params?: Record<string, unknown>
}

/** A task row as the task framework stores it. */
export async function insertTask(fixture: TaskFixture): Promise<string> {
  counter++
  const taskName = `${fixture.type}_test_${counter}_${Math.random().toString(36).slice(2, 8)}`
  await dbOf(env)
    .insert(tasks)
    .values({
      id: taskName,
      orgId: fixture.orgId,
      appId: fixture.appId ?? null,
      appName: fixture.appName ?? null,
      buildName: fixture.buildName ?? null,
      type: fixture.type,
      state: fixture.state,
      created: fixture.created ?? new Date().toISOString(),
      warnings: JSON.stringify(fixture.warnings ?? []),
      exception: fixture.exception ? JSON.stringify(fixture.exception) : null,
      params: JSON.stringify(fixture.params ?? {}),
    })
  return taskName
}

/** Keys under an R2 prefix. */
export async function keysUnder(prefix: string): Promise<string[]> {
  const listed = await env.BUCKET.list({ prefix })
  return listed.objects.map((object) => object.key)
}
