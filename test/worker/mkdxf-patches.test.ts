import { SELF } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { and, eq } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { dbOf } from '../../src/db/client'
import { patches } from '../../src/db/schema'
import { applyPatch, parsePatchHeader, patchHeaderLength } from '../../src/engine/patch'
import { imageKeys, patchKey } from '../../src/storage/keys'
import { loadTask } from '../../src/tasks/store'
import { driveTask, objectBytes, rangeBytes, stagedMkraw, stepTask } from './build-fixtures'
import { newOrg } from './fixtures'
import { BASE, call, waitForTask } from './helpers'
import { makeTar, seededBytes } from './tar-fixture'
import {
  appWithBuild,
  BLOCK,
  gameEntries,
  importBuild,
  processTracesNow,
  type TrainingApp,
  traceHeaders,
  uploadPlayedSessions,
} from './training-fixtures'

/** Build 2: build 1 with a new `a.pak`, so the patch from build 1 carries its blocks only. */
function secondBuild() {
  return gameEntries().map((entry) =>
    entry.path === 'game/data/a.pak' ? { ...entry, data: seededBytes(4242, 16 * BLOCK) } : entry,
  )
}

async function rebuiltFrom(baseKey: string, patch: string): Promise<Buffer> {
  const readBase = (offset: number, length: number) => rangeBytes(baseKey, offset, length)
  const readPatch = (offset: number, length: number) => rangeBytes(patch, offset, length)
  const pieces: Uint8Array[] = []
  for await (const piece of applyPatch(readBase, readPatch)) pieces.push(piece)
  return Buffer.concat(pieces)
}

/** Uploads six played sessions for the app's current build and runs `processTraces` on them. */
async function trainNow(app: TrainingApp) {
  await uploadPlayedSessions(app, 6)
  return processTracesNow(app)
}

describe('an mkdxf run that replaces an image remakes the patches into it', () => {
  it('leads the patch from a kept build to the new image, in R2, in D1 and in the depot', async () => {
    const org = await newOrg('mkdxfpatch')
    const first = await appWithBuild(org, { nTracesReliable: 2, nProcessTracesMin: 1000 })
    const second = { ...first, ...(await importBuild(first, secondBuild())) }
    expect(second.buildId).toBe(2)
    const key = patchKey(first.orgId, first.appId, 2, 1)
    const nativePatch = (await objectBytes(key))!
    const nativeImage = imageKeys(first.orgId, first.appId, 'dxf-0002-01').image
    expect(
      (await rebuiltFrom(imageKeys(first.orgId, first.appId, 'dxf-0001-01').image, key)).equals(
        Buffer.from((await objectBytes(nativeImage))!),
      ),
    ).toBe(true)

    const run = await trainNow(second)
    expect(run.result).toMatchObject({ deployed: true, dxfName: 'dxf-0002-02' })

    // A launcher holding build 1's image applies the patch and holds the image the client
    // API names now, byte for byte: not the native image the patch was first made for.
    const trained = imageKeys(first.orgId, first.appId, 'dxf-0002-02').image
    const trainedBytes = Buffer.from((await objectBytes(trained))!)
    const base = imageKeys(first.orgId, first.appId, 'dxf-0001-01').image
    expect((await rebuiltFrom(base, key)).equals(trainedBytes)).toBe(true)
    const patchBytes = (await objectBytes(key))!
    expect(Buffer.from(patchBytes).equals(Buffer.from(nativePatch))).toBe(false)
    const header = parsePatchHeader(patchBytes.subarray(0, patchHeaderLength(patchBytes)))
    // The same content travels: only the order of the new image differs.
    expect(header.newBlocks.length).toBe(
      parsePatchHeader(nativePatch.subarray(0, patchHeaderLength(nativePatch))).newBlocks.length,
    )

    const row = await dbOf(env)
      .select()
      .from(patches)
      .where(and(eq(patches.appId, first.appId), eq(patches.toBuildId, 2)))
      .all()
    expect(row.map((r) => [r.fromBuildId, r.sizeBytes])).toEqual([[1, patchBytes.length]])

    const client = await call('GET', `/client/v1/apps/${org.orgName}/${first.name}`, {
      headers: traceHeaders(second),
    })
    expect(client.status).toBe(200)
    expect(client.body).toMatchObject({ dxfName: 'dxf-0002-02' })

    // The deploy that follows the run publishes the remade patch, so the depot serves it.
    await waitForTask(run.result.deployTaskName, 30_000)
    const served = await SELF.fetch(
      `${BASE}/depot/pat/${org.orgName}/${first.name}/0002/0001/patch.dxf`,
    )
    expect(served.status).toBe(200)
    expect(Buffer.from(await served.arrayBuffer()).equals(Buffer.from(patchBytes))).toBe(true)
    // Same path, new bytes: no cache may keep the first one for long.
    expect(served.headers.get('cache-control')).not.toContain('immutable')
  }, 90_000)

  it('makes a patch again at commit when training replaced its base image meanwhile', async () => {
    const org = await newOrg('mkdxfrace')
    const first = await appWithBuild(org, { nTracesReliable: 2, nProcessTracesMin: 1000 })
    // Build 2 is imported by hand and stopped before its commit, its patch planned from
    // build 1's first image.
    const staged = await stagedMkraw(first, makeTar(secondBuild()), 1 << 20)
    let cursor = (await stepTask(staged.taskName)) as { cursor?: { phase?: string } }
    while (cursor.cursor?.phase !== 'commit') {
      cursor = (await stepTask(staged.taskName)) as typeof cursor
    }
    const key = patchKey(first.orgId, first.appId, 2, 1)
    const base1 = imageKeys(first.orgId, first.appId, 'dxf-0001-01').image

    // Meanwhile build 1, still current, is trained and gets a new image.
    const run = await trainNow(first)
    expect(run.result).toMatchObject({ deployed: true, dxfName: 'dxf-0001-02' })

    // The commit step sees the patch's base replaced and makes the patch again first.
    expect(await stepTask(staged.taskName)).toMatchObject({ cursor: { phase: 'patch', remade: 1 } })
    await driveTask(staged.taskName)
    const task = (await loadTask(env, staged.taskName))!
    expect(task.state).toBe('succeeded')
    expect(task.result?.patches).toEqual([
      expect.objectContaining({ fromBuildId: 1, fromDxfName: 'dxf-0001-02' }),
    ])
    // A launcher holding build 1's trained image applies it; the first image no longer fits.
    const image2 = Buffer.from(
      (await objectBytes(imageKeys(first.orgId, first.appId, 'dxf-0002-01').image))!,
    )
    const trained1 = imageKeys(first.orgId, first.appId, 'dxf-0001-02').image
    expect((await rebuiltFrom(trained1, key)).equals(image2)).toBe(true)
    await expect(rebuiltFrom(base1, key)).rejects.toThrow(/made for another image/)
  }, 90_000)
})
