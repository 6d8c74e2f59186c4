import { SELF } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { and, eq } from 'drizzle-orm'
import { beforeAll, describe, expect, it } from 'vitest'
import { runCron } from '../../src/cron'
import { dbOf } from '../../src/db/client'
import { builds } from '../../src/db/schema'
import { retireKeys } from '../../src/domain/deployments/retired-files'
import { imageKeys } from '../../src/storage/keys'
import { insertBuild, insertPatch, newApp, patternBytes, putImage } from './app-fixtures'
import { newOrg, type OrgFixture } from './fixtures'
import { BASE, call } from './helpers'

const SIZE = 1000
const image = patternBytes(SIZE)
const patch = patternBytes(300, 3)

let org: OrgFixture
let app: Awaited<ReturnType<typeof newApp>>
let imagePath: string
let patchPath: string
let etag: string
let sha256: string

function get(path: string, headers: Record<string, string> = {}, method = 'GET') {
  return SELF.fetch(`${BASE}${path}`, { method, headers })
}

async function bytesOf(response: Response): Promise<number[]> {
  return [...new Uint8Array(await response.arrayBuffer())]
}

beforeAll(async () => {
  org = await newOrg('depot')
  app = await newApp(org)
  await insertBuild({ ...app, buildId: 1, current: false })
  await insertBuild({ ...app, buildId: 2, current: true })
  await putImage(app.orgId, app.appId, 'dxf-0001-01', patternBytes(50, 1))
  sha256 = (await putImage(app.orgId, app.appId, 'dxf-0002-01', image)).sha256
  await insertPatch(app.orgId, app.appId, 2, 1, patch)
  etag = (await env.BUCKET.head(imageKeys(app.orgId, app.appId, 'dxf-0002-01').image))!.httpEtag
  imagePath = `/depot/dxf/${org.orgName}/${app.name}/0002/dxf-0002-01/image.dxf`
  patchPath = `/depot/pat/${org.orgName}/${app.name}/0002/0001/patch.dxf`
})

describe('GET /depot (no authentication)', () => {
  it('streams a whole image with its validators and caching', async () => {
    const response = await get(imagePath)
    expect(response.status).toBe(200)
    expect(await bytesOf(response)).toEqual([...image])
    expect(response.headers.get('content-length')).toBe(String(SIZE))
    expect(response.headers.get('content-type')).toBe('application/octet-stream')
    expect(response.headers.get('etag')).toBe(etag)
    expect(etag).toMatch(/^"[^"]+"$/)
    expect(response.headers.get('accept-ranges')).toBe('bytes')
    expect(response.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
    expect(response.headers.get('last-modified')).toMatch(/GMT$/)
    expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
  })

  it('serves profile.json as JSON and an older kept build too', async () => {
    const profile = await get(imagePath.replace('image.dxf', 'profile.json'))
    expect(profile.status).toBe(200)
    expect(profile.headers.get('content-type')).toMatch(/^application\/json(; charset=utf-8)?$/)
    expect(await profile.json()).toEqual({ bandwidths: [25, 100, 1000] })
    const older = await get(`/depot/dxf/${org.orgName}/${app.name}/0001/dxf-0001-01/image.dxf`)
    expect(older.status).toBe(200)
    expect(await bytesOf(older)).toEqual([...patternBytes(50, 1)])
  })

  it('answers HEAD with the headers of GET and no body', async () => {
    const response = await get(imagePath, {}, 'HEAD')
    expect(response.status).toBe(200)
    expect(response.headers.get('content-length')).toBe(String(SIZE))
    expect(response.headers.get('etag')).toBe(etag)
    expect(await response.text()).toBe('')
    const ranged = await get(imagePath, { range: 'bytes=0-9' }, 'HEAD')
    expect(ranged.status).toBe(206)
    expect(ranged.headers.get('content-range')).toBe(`bytes 0-9/${SIZE}`)
  })

  it.each([
    ['bytes=10-19', 10, 19],
    ['bytes=990-', 990, 999],
    ['bytes=-5', 995, 999],
    ['bytes=995-5000', 995, 999],
    ['bytes=0-0', 0, 0],
    ['bytes=-5000', 0, 999],
  ])('answers Range %s with 206 and bytes %i-%i', async (range, first, last) => {
    const response = await get(imagePath, { range })
    expect(response.status).toBe(206)
    expect(response.headers.get('content-range')).toBe(`bytes ${first}-${last}/${SIZE}`)
    expect(response.headers.get('content-length')).toBe(String(last - first + 1))
    expect(await bytesOf(response)).toEqual([...image.slice(first, last + 1)])
  })

  it.each(['bytes=1000-', 'bytes=5000-6000', 'bytes=-0'])(
    'answers an unsatisfiable %s with 416 and the size',
    async (range) => {
      const response = await get(imagePath, { range })
      expect(response.status).toBe(416)
      expect(response.headers.get('content-range')).toBe(`bytes */${SIZE}`)
      expect((await response.json()) as object).toMatchObject({ status: 'error' })
    },
  )

  it.each(['bytes=0-1,5-6', 'items=0-5', 'bytes=9-2', 'bytes=abc'])(
    'ignores a Range it does not serve (%s) and sends the whole file',
    async (range) => {
      const response = await get(imagePath, { range })
      expect(response.status).toBe(200)
      expect((await bytesOf(response)).length).toBe(SIZE)
    },
  )

  it('answers If-None-Match with 304 when the ETag matches', async () => {
    for (const tag of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const response = await get(imagePath, { 'if-none-match': tag })
      expect(response.status, tag).toBe(304)
      expect(response.headers.get('etag')).toBe(etag)
      expect(await response.text()).toBe('')
    }
    const changed = await get(imagePath, { 'if-none-match': '"something-else"' })
    expect(changed.status).toBe(200)
    expect((await bytesOf(changed)).length).toBe(SIZE)
  })

  it('honours If-Range: the range when the ETag matches, the whole file otherwise', async () => {
    const same = await get(imagePath, { range: 'bytes=0-3', 'if-range': etag })
    expect(same.status).toBe(206)
    expect(await bytesOf(same)).toEqual([...image.slice(0, 4)])
    const stale = await get(imagePath, { range: 'bytes=0-3', 'if-range': '"old"' })
    expect(stale.status).toBe(200)
    expect((await bytesOf(stale)).length).toBe(SIZE)
    const weak = await get(imagePath, { range: 'bytes=0-3', 'if-range': `W/${etag}` })
    expect(weak.status).toBe(200)
    await weak.arrayBuffer()
  })

  it('serves a recorded patch with ranges', async () => {
    const whole = await get(patchPath)
    expect(whole.status).toBe(200)
    expect(await bytesOf(whole)).toEqual([...patch])
    // Remade in place when training replaces the newer build's image: cached briefly only.
    expect(whole.headers.get('cache-control')).toBe('public, max-age=300, must-revalidate')
    const etag = whole.headers.get('etag') as string
    const again = await get(patchPath, { 'if-none-match': etag })
    expect(again.status).toBe(304)
    expect(again.headers.get('cache-control')).toBe('public, max-age=300, must-revalidate')
    const part = await get(patchPath, { range: 'bytes=100-199' })
    expect(part.status).toBe(206)
    expect(await bytesOf(part)).toEqual([...patch.slice(100, 200)])
  })

  it('answers 404 for anything the app does not offer', async () => {
    const base = `/depot/dxf/${org.orgName}/${app.name}`
    for (const path of [
      `/depot/dxf/no_such_org/${app.name}/0002/dxf-0002-01/image.dxf`,
      `/depot/dxf/${org.orgName}/no_such_app/0002/dxf-0002-01/image.dxf`,
      `${base}/2/dxf-0002-01/image.dxf`,
      `${base}/0003/dxf-0003-01/image.dxf`,
      `${base}/0002/dxf-0001-01/image.dxf`,
      `${base}/0002/dxf-0002-09/image.dxf`,
      `${base}/0002/dxf-0002-01/build.tar`,
      `${base}/0002/dxf-0002-01/../../../builds/0002/build.tar`,
      `/depot/pat/${org.orgName}/${app.name}/0001/0002/patch.dxf`,
      `/depot/pat/${org.orgName}/${app.name}/0002/0001/other.dxf`,
    ]) {
      const response = await get(path)
      expect(response.status, path).toBe(404)
      await response.arrayBuffer()
    }
  })

  it('stops serving an image once its build is no longer kept', async () => {
    const other = await newApp(org)
    await insertBuild({ ...other, buildId: 1, current: true })
    await putImage(other.orgId, other.appId, 'dxf-0001-01', patternBytes(20))
    const path = `/depot/dxf/${org.orgName}/${other.name}/0001/dxf-0001-01/image.dxf`
    expect((await get(path, {}, 'HEAD')).status).toBe(200)
    await dbOf(env).update(builds).set({ state: 'deleted' }).where(eq(builds.appId, other.appId))
    const gone = await get(path)
    expect(gone.status).toBe(404)
    await gone.arrayBuffer()
  })

  it('serves a replaced image of a kept build while it is retired, only under its build', async () => {
    const other = await newApp(org)
    await insertBuild({ ...other, buildId: 1, current: false, dxfName: 'dxf-0001-02' })
    await insertBuild({ ...other, buildId: 2, current: true, dxfName: 'dxf-0002-02' })
    const replaced = patternBytes(40, 5)
    const { keys } = await putImage(other.orgId, other.appId, 'dxf-0001-01', replaced)
    const second = await putImage(other.orgId, other.appId, 'dxf-0002-01', patternBytes(30, 6))
    const base = `/depot/dxf/${org.orgName}/${other.name}`
    const status = async (path: string) => {
      const response = await get(path)
      await response.arrayBuffer()
      return response.status
    }
    // Replaced but never retired (or already deleted): not offered.
    expect(await status(`${base}/0001/dxf-0001-01/image.dxf`)).toBe(404)

    await retireKeys(env, other.orgId, null, [keys.image, keys.profile])
    await retireKeys(env, other.orgId, null, [second.keys.image, second.keys.profile])
    const served = await get(`${base}/0001/dxf-0001-01/image.dxf`)
    expect(served.status).toBe(200)
    expect(await bytesOf(served)).toEqual([...replaced])
    expect(await status(`${base}/0001/dxf-0001-01/profile.json`)).toBe(200)
    expect(await status(`${base}/0002/dxf-0001-01/image.dxf`)).toBe(404)
    expect(await status(`${base}/0002/dxf-0002-01/image.dxf`)).toBe(200)

    // An evicted build takes its images with it, retired or not.
    await dbOf(env)
      .update(builds)
      .set({ state: 'deleted' })
      .where(and(eq(builds.appId, other.appId), eq(builds.buildId, 1)))
    expect(await status(`${base}/0001/dxf-0001-01/image.dxf`)).toBe(404)

    await runCron(env, new Date(Date.now() + 25 * 3600 * 1000))
    expect(await status(`${base}/0002/dxf-0002-01/image.dxf`)).toBe(404)
    for (const key of [keys.image, keys.profile, second.keys.image, second.keys.profile]) {
      expect(await env.BUCKET.head(key), key).toBeNull()
    }
  })

  it('refuses writes', async () => {
    const response = await get(imagePath, {}, 'PUT')
    expect(response.status).toBe(405)
    await response.arrayBuffer()
  })
})

describe('GET /client/v1/apps/{orgName}/{appName}', () => {
  const path = () => `/client/v1/apps/${org.orgName}/${app.name}`
  const headers = (overrides: Record<string, string> = {}) => ({
    'x-rockit-orgname': org.orgName,
    'x-rockit-appname': app.name,
    'x-rockit-trace-key': app.traceKey,
    ...overrides,
  })

  it('answers the current image with absolute depot URLs that serve it', async () => {
    const answer = await call('GET', path(), { headers: headers() })
    expect(answer.status).toBe(200)
    expect(answer.body).toEqual({
      status: 'success',
      message: 'current image',
      iCurBuild: 2,
      buildName: 'build-0002',
      dxfName: 'dxf-0002-01',
      image: { url: `${BASE}${imagePath}`, sizeBytes: SIZE, sha256 },
      profile: { url: `${BASE}${imagePath.replace('image.dxf', 'profile.json')}` },
      origins: [],
    })
    const fetched = await SELF.fetch(answer.body.image.url)
    expect(fetched.status).toBe(200)
    const digest = await crypto.subtle.digest('SHA-256', await fetched.arrayBuffer())
    const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('')
    expect(hex).toBe(answer.body.image.sha256)
  })

  it('gives sha256 null when the image carries none', async () => {
    const other = await newApp(org)
    await insertBuild({ ...other, buildId: 1, current: true })
    await putImage(other.orgId, other.appId, 'dxf-0001-01', patternBytes(30), false)
    const answer = await call('GET', `/client/v1/apps/${org.orgName}/${other.name}`, {
      headers: headers({ 'x-rockit-appname': other.name, 'x-rockit-trace-key': other.traceKey }),
    })
    expect(answer.status).toBe(200)
    expect(answer.body.image).toMatchObject({ sizeBytes: 30, sha256: null })
  })

  it('answers 404 while the app has no current build', async () => {
    const fresh = await newApp(org)
    const answer = await call('GET', `/client/v1/apps/${org.orgName}/${fresh.name}`, {
      headers: headers({ 'x-rockit-appname': fresh.name, 'x-rockit-trace-key': fresh.traceKey }),
    })
    expect(answer.status).toBe(404)
    expect(answer.body.message).toContain('has no current build yet')
  })

  it('needs the trace key of the app the path names (401 otherwise)', async () => {
    const other = await newApp(org)
    const cases: Record<string, string>[] = [
      {},
      { 'x-rockit-orgname': org.orgName, 'x-rockit-appname': app.name },
      headers({ 'x-rockit-trace-key': 'rkt_wrong' }),
      headers({ 'x-rockit-trace-key': other.traceKey }),
      headers({ 'x-rockit-appname': other.name, 'x-rockit-trace-key': other.traceKey }),
      headers({ 'x-rockit-orgname': 'another_org' }),
    ]
    for (const given of cases) {
      const answer = await call('GET', path(), { headers: given })
      expect(answer.status, JSON.stringify(given)).toBe(401)
      expect(answer.body.code).toBe('unauthenticated')
    }
    const userKey = await call('GET', path(), { headers: org.headers })
    expect(userKey.status).toBe(401)
  })
})
