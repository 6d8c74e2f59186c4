/**
 * Fixtures of the deployment and deploy tests: deployments on the loopback origins of
 * `origins-global-setup.ts`, apps and images written straight into D1 and R2 (as mkraw leaves
 * them), and a SigV4 client to read the S3 origin back.
 */
import { env } from 'cloudflare:workers'
import { AwsClient } from 'aws4fetch'
import { eq } from 'drizzle-orm'
import { expect, inject } from 'vitest'
import { dbOf } from '../../src/db/client'
import { apps, orgs, patches, roles, userRoles, users } from '../../src/db/schema'
import { newId } from '../../src/domain/auth/secrets'
import { imageKeys, patchKey } from '../../src/storage/keys'
import { apiKeyHeaders } from './fixtures'
import { call } from './helpers'

export const origins = () => inject('origins')

/** A prefix no other test uses, so tests sharing the one s3rver never see each other's files. */
export function uniquePrefix(label = 'p'): string {
  return `${label}-${Math.random().toString(36).slice(2, 10)}`
}

/** The body of an S3 deployment on the verifying proxy (override any field). */
export function s3Deployment(
  name: string,
  originPrefix: string,
  origin: Record<string, unknown> = {},
) {
  const o = origins()
  return {
    name,
    originPrefix,
    origin: {
      type: 's3',
      endpoint: o.s3,
      region: 'us-east-1',
      bucket: o.bucket,
      accessKeyId: o.accessKeyId,
      secretAccessKey: o.secretAccessKey,
      ...origin,
    },
  }
}

/** Creates a deployment through the API and expects 201. */
export async function createDeployment(headers: Record<string, string>, body: unknown) {
  const answer = await call('POST', '/be/v1/deployments', { headers, body })
  expect(answer.status, JSON.stringify(answer.body)).toBe(201)
  return answer.body.deployment
}

export async function orgIdOf(orgName: string): Promise<string> {
  const org = await dbOf(env).select().from(orgs).where(eq(orgs.name, orgName)).get()
  return org!.id
}

/** A user of the org holding one role with `permissions`; returns its API-key headers. */
export async function userWith(orgName: string, permissions: Record<string, number>) {
  const db = dbOf(env)
  const orgId = await orgIdOf(orgName)
  const roleId = newId()
  const userId = newId()
  const username = `u_${Math.random().toString(36).slice(2, 10)}`
  await db.insert(roles).values({
    id: roleId,
    orgId,
    name: `r_${username}`,
    permissions: JSON.stringify(permissions),
  })
  await db.insert(users).values({ id: userId, orgId, username, machine: true, label: 'test' })
  await db.insert(userRoles).values({ userId, roleId })
  return apiKeyHeaders(orgName, username)
}

export interface AppFixture {
  id: string
  name: string
  orgId: string
}

/** An app row as the apps API makes it, optionally listing deployments. */
export async function insertApp(
  orgId: string,
  name: string,
  deployments: string[] | null = null,
): Promise<AppFixture> {
  const id = newId()
  await dbOf(env)
    .insert(apps)
    .values({
      id,
      orgId,
      name,
      label: name,
      deployments: deployments ? JSON.stringify(deployments) : null,
      traceKeyHash: `hash-${id}`,
      training: '{}',
    })
  return { id, name, orgId }
}

/** Deterministic bytes that differ at every offset, so a wrong range shows. */
export function bytesOf(size: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(size)
  let x = seed * 2654435761
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    bytes[i] = x >>> 24
  }
  return bytes
}

export interface ImageFixture {
  buildId: number
  dxfName: string
  image: Uint8Array
  profile: Uint8Array
  patches: { fromBuildId: number; bytes: Uint8Array }[]
}

/**
 * Writes an image (and patches to its build) where mkraw leaves them and makes it the app's
 * current image.
 */
export async function putImage(
  app: AppFixture,
  buildId: number,
  imageSize: number,
  patchesFrom: number[] = [],
): Promise<ImageFixture> {
  const dxfName = `dxf-${String(buildId).padStart(4, '0')}-01`
  const keys = imageKeys(app.orgId, app.id, dxfName)
  const image = bytesOf(imageSize, buildId)
  const profile = new TextEncoder().encode(JSON.stringify({ buildId, preload: [1, 2, 3] }))
  await env.BUCKET.put(keys.image, image)
  await env.BUCKET.put(keys.profile, profile)

  const made: ImageFixture['patches'] = []
  for (const fromBuildId of patchesFrom) {
    const bytes = bytesOf(1000 + fromBuildId, 100 * buildId + fromBuildId)
    const key = patchKey(app.orgId, app.id, buildId, fromBuildId)
    await env.BUCKET.put(key, bytes)
    await dbOf(env).insert(patches).values({
      id: newId(),
      appId: app.id,
      fromBuildId,
      toBuildId: buildId,
      sizeBytes: bytes.length,
      key,
    })
    made.push({ fromBuildId, bytes })
  }
  await dbOf(env).update(apps).set({ iCurBuild: buildId, dxfName }).where(eq(apps.id, app.id))
  return { buildId, dxfName, image, profile, patches: made }
}

/** A SigV4 client for the test S3 origin (through the verifying proxy). */
export function s3Reader(endpoint = origins().s3) {
  const o = origins()
  const client = new AwsClient({
    accessKeyId: o.accessKeyId,
    secretAccessKey: o.secretAccessKey,
    service: 's3',
    region: 'us-east-1',
    retries: 0,
  })
  const url = (key: string) => `${endpoint}/${o.bucket}/${key}`
  return {
    get: (key: string, range?: string) =>
      client.fetch(url(key), range ? { headers: { range } } : {}),
    head: (key: string) => client.fetch(url(key), { method: 'HEAD' }),
    put: (key: string, body: Uint8Array) => client.fetch(url(key), { method: 'PUT', body }),
    async list(prefix: string): Promise<string[]> {
      const query = new URLSearchParams({ 'list-type': '2', prefix, 'max-keys': '1000' })
      const text = await (await client.fetch(`${endpoint}/${o.bucket}?${query}`)).text()
      return [...text.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1]).sort()
    },
  }
}
