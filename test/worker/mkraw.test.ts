import { env } from 'cloudflare:workers'
import { eq } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { dbOf } from '../../src/db/client'
import { patches } from '../../src/db/schema'
import { applyPatch } from '../../src/engine/patch'
import { appPrefix, buildKeys, imageKeys, patchKey } from '../../src/storage/keys'
import { loadTask } from '../../src/tasks/store'
import {
  allKeys,
  type BuildApp,
  buildApp,
  buildRow,
  driveTask,
  expectImageHolds,
  objectBytes,
  rangeBytes,
  readImageHeader,
  sha256Of,
  stagedMkraw,
  stepTask,
  tasksOf,
  uploadBuild,
} from './build-fixtures'
import { newOrg } from './fixtures'
import { call, waitForTask } from './helpers'
import { makeTar, seededBytes, smallBuildEntries, type TarEntry } from './tar-fixture'

const PNG_HEAD = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13])

/** Uploads `tar` as a new build and waits for its mkraw task. */
async function importTar(app: BuildApp, tar: Uint8Array) {
  const { mkraw, created } = await uploadBuild(app, tar)
  return { task: await waitForTask(mkraw), buildId: created.body.build.buildId as number }
}

async function appView(app: BuildApp) {
  const answer = await call('GET', `/be/v1/apps/${app.name}`, { headers: app.org.headers })
  expect(answer.status).toBe(200)
  return answer.body.app
}

/**
 * A build whose tar is stored and whose mkraw task waits (start: false) with a small step, so
 * a test can drive it step by step. Uses the real create path; the upload is replaced by a put.
 */
describe('mkraw refuses what is not a build, and leaves the app usable', () => {
  const cases: [string, () => Uint8Array, Record<string, unknown>][] = [
    [
      'a PNG',
      () => PNG_HEAD,
      { code: 'fileReadFailed', filename: 'build.tar', typeExpected: 'tar', typeDetected: 'png' },
    ],
    [
      'a tar cut off inside a file',
      () => makeTar(smallBuildEntries(1), { end: false }).subarray(0, 100_000),
      { code: 'truncated', filename: 'game/data/level1.pak' },
    ],
    [
      'a tar with a path leaving the build',
      () =>
        makeTar([
          { path: 'ok.txt', data: 'fine' },
          { path: '../evil.sh', data: 'rm -rf' },
        ]),
      { code: 'unsafePath', filename: '../evil.sh' },
    ],
    [
      'a tar whose links leave the build only together',
      () =>
        makeTar([
          { path: 'a/b/c', type: 'dir' },
          { path: 'a/b/c/d', type: 'symlink', linkTarget: '../../..' },
          { path: 'a/b/c/e', type: 'symlink', linkTarget: 'd/../etc/passwd' },
        ]),
      { code: 'unsafePath', filename: 'a/b/c/e', offset: 1024 },
    ],
    [
      'a tar with a file written under a link',
      () =>
        makeTar([
          { path: 'a/b/c/d', type: 'dir' },
          { path: 'a/b/c/e', type: 'symlink', linkTarget: 'd/..' },
          { path: 'a/b/c/e/pwned.txt', data: 'pwned' },
        ]),
      { code: 'unsafePath', filename: 'a/b/c/e/pwned.txt', offset: 1024 },
    ],
    [
      'a tar with the same path twice',
      () =>
        makeTar([
          { path: 'a/f', data: 'one' },
          { path: 'a/f', data: 'two' },
        ]),
      { code: 'duplicatePath', filename: 'a/f', offset: 1024 },
    ],
    [
      'a tar with a path that is a file, then a folder',
      () =>
        makeTar([
          { path: 'a/f', data: 'a file' },
          { path: 'a/f/g', data: 'under it' },
        ]),
      { code: 'pathConflict', filename: 'a/f', offset: 0 },
    ],
    [
      'a tar with a corrupt header',
      () => {
        const tar = makeTar(smallBuildEntries(1))
        tar[512 + 148] ^= 0x01 // checksum of the second header
        return tar
      },
      { code: 'fileReadFailed', typeExpected: 'tar', reason: 'badChecksum' },
    ],
  ]

  for (const [what, tarOf, exception] of cases) {
    it(`fails on ${what} with ${exception.code}; nothing half-written stays`, async () => {
      const org = await newOrg('mkraw')
      const app = await buildApp(org)
      const good = smallBuildEntries(7)
      const first = await importTar(app, makeTar(good))
      expect(first.task.state).toBe('succeeded')

      const bad = await importTar(app, tarOf())
      expect(bad.task).toMatchObject({ state: 'failed', exception })
      expect(bad.buildId).toBe(2)
      expect(await buildRow(app, 2)).toMatchObject({ state: 'failed', dxfName: null })
      const shown = await appView(app)
      expect(shown).toMatchObject({ iCurBuild: 1, dxfName: 'dxf-0001-01', processing: false })
      expect(shown.builds.map((b: { buildId: number }) => b.buildId)).toEqual([1])
      // The unreadable tar and everything derived from it are gone.
      expect(await allKeys(buildKeys(app.orgId, app.appId, 2).prefix)).toEqual([])
      expect(await allKeys(`${appPrefix(app.orgId, app.appId)}images/dxf-0002-`)).toEqual([])
      expect(await allKeys(`${appPrefix(app.orgId, app.appId)}patches/`)).toEqual([])
      expect(await tasksOf(app.appId, 'deploy')).toHaveLength(1)

      const next = await importTar(app, makeTar(smallBuildEntries(8)))
      expect(next.task.state).toBe('succeeded')
      expect(next.buildId).toBe(3)
      expect(await appView(app)).toMatchObject({ iCurBuild: 3, dxfName: 'dxf-0003-01' })
      await expectImageHolds(
        imageKeys(app.orgId, app.appId, 'dxf-0003-01').image,
        smallBuildEntries(8),
      )
    }, 60_000)
  }
})

describe('mkraw builds images', () => {
  it('imports a tar of many empty files (no blocks at all)', async () => {
    const org = await newOrg('mkraw')
    const app = await buildApp(org)
    const entries: TarEntry[] = [{ path: 'empty', type: 'dir' }]
    for (let i = 0; i < 300; i++) entries.push({ path: `empty/file-${i}.dat`, data: '' })
    const { task } = await importTar(app, makeTar(entries))
    expect(task).toMatchObject({ state: 'succeeded', result: { files: 300, blocks: 0 } })
    const header = await expectImageHolds(
      imageKeys(app.orgId, app.appId, 'dxf-0001-01').image,
      entries,
    )
    expect(header.blockCount).toBe(0)
    expect(task.result.image.sizeBytes).toBe(header.headerLength)
  })

  it('writes a multi-part image over many bounded steps, each step run twice', async () => {
    const org = await newOrg('mkraw')
    const app = await buildApp(org, { blockSize: 4096 })
    // 11 MiB of content (two image parts) in files of awkward sizes around the block size.
    const entries: TarEntry[] = [{ path: 'pak', type: 'dir' }]
    let seed = 1
    for (let size = 4095; entries.length < 25; size = (size * 7 + 4097) % 700_000) {
      entries.push({ path: `pak/part-${seed}.bin`, data: seededBytes(seed++, size) })
    }
    entries.push({ path: 'pak/big.bin', data: seededBytes(99, 8 * 1024 * 1024 + 3) })
    const tar = makeTar(entries)
    const { taskName } = await stagedMkraw(app, tar, 1024 * 1024)

    const steps = await driveTask(taskName, { twice: true })
    expect(steps).toBeGreaterThan(12)
    const task = (await loadTask(env, taskName))!
    expect(task.state).toBe('succeeded')
    const key = imageKeys(app.orgId, app.appId, 'dxf-0001-01').image
    const header = await expectImageHolds(key, entries)
    const image = (await objectBytes(key))!
    expect(image.length).toBe(header.headerLength + header.dataLength)
    expect(image.length).toBeGreaterThan(8 * 1024 * 1024)
    expect((await env.BUCKET.head(key))?.customMetadata?.sha256).toBe(await sha256Of(image))
    expect(task.result?.image).toMatchObject({ sha256: await sha256Of(image) })

    // Exactly one image, no work objects left, one deploy task.
    expect(await allKeys(`${appPrefix(app.orgId, app.appId)}images/`)).toEqual([
      imageKeys(app.orgId, app.appId, 'dxf-0001-01').image,
      imageKeys(app.orgId, app.appId, 'dxf-0001-01').profile,
    ])
    expect(await allKeys(`${buildKeys(app.orgId, app.appId, 1).prefix}work/`)).toEqual([])
    expect(await tasksOf(app.appId, 'deploy')).toHaveLength(1)
    // The tables: a JSON file table and 16 bytes per block.
    const files = JSON.parse(
      new TextDecoder().decode((await objectBytes(buildKeys(app.orgId, app.appId, 1).files))!),
    )
    expect(files).toHaveLength(entries.length)
    expect((await objectBytes(buildKeys(app.orgId, app.appId, 1).blocks))?.length).toBe(
      header.blockCount * 16,
    )
  }, 60_000)

  it('ignores a queue message delivered again after its step ran', async () => {
    const org = await newOrg('mkraw')
    const app = await buildApp(org)
    const { task } = await importTar(app, makeTar(smallBuildEntries(11)))
    const key = imageKeys(app.orgId, app.appId, 'dxf-0001-01').image
    const before = await env.BUCKET.head(key)
    const seq = (await loadTask(env, task.taskName))!.seq
    for (let old = 0; old <= seq; old++) await env.TASKS.send({ taskName: task.taskName, seq: old })
    await new Promise((resolve) => setTimeout(resolve, 1500))
    expect((await env.BUCKET.head(key))?.etag).toBe(before?.etag)
    expect((await loadTask(env, task.taskName))?.seq).toBe(seq)
    expect(await tasksOf(app.appId, 'mkraw')).toHaveLength(1)
    expect(await tasksOf(app.appId, 'deploy')).toHaveLength(1)
  }, 30_000)
})

describe('patches and kept builds', () => {
  it('patches from each kept build and evicts the oldest beyond maxBuilds', async () => {
    const org = await newOrg('mkraw')
    const app = await buildApp(org, { maxBuilds: 2 })
    const v1 = smallBuildEntries(21)
    // v2 changes one pack and the readme, keeps the rest.
    const v2 = v1.map((entry) =>
      entry.path === 'game/data/level2.pak'
        ? { ...entry, data: seededBytes(2222, 70_000) }
        : entry.path === 'game/readme.txt'
          ? { ...entry, data: 'version 2\n' }
          : entry,
    )
    const v3 = [...v2, { path: 'game/data/level3.pak', data: seededBytes(333, 200_000) }]

    expect((await importTar(app, makeTar(v1))).task.state).toBe('succeeded')
    const second = await importTar(app, makeTar(v2))
    expect(second.task.result.patches).toEqual([
      {
        fromBuildId: 1,
        sizeBytes: expect.any(Number),
        changedFilesBytes: 70_000 + 10,
        fromDxfName: 'dxf-0001-01',
      },
    ])
    const patch12 = patchKey(app.orgId, app.appId, 2, 1)
    const image1 = imageKeys(app.orgId, app.appId, 'dxf-0001-01').image
    const image2 = imageKeys(app.orgId, app.appId, 'dxf-0002-01').image
    const patchBytes = (await objectBytes(patch12))!
    // Only the changed blocks travel: two blocks of level2 and one of the readme.
    expect(patchBytes.length).toBe(second.task.result.patches[0].sizeBytes)
    const image2Bytes = (await objectBytes(image2))!
    const header2 = await readImageHeader(image2)
    // Patch header (64 bytes, image 2's header, 4 bytes per carried block), then the blocks.
    expect(patchBytes.length).toBe(64 + header2.headerLength + 3 * 4 + 70_000 + 10)

    // A launcher holding image 1 rebuilds image 2 from the patch, byte for byte.
    const readA = (offset: number, length: number) => rangeBytes(image1, offset, length)
    const readPatch = (offset: number, length: number) => rangeBytes(patch12, offset, length)
    const pieces: Uint8Array[] = []
    for await (const piece of applyPatch(readA, readPatch)) pieces.push(piece)
    expect(Buffer.concat(pieces).equals(Buffer.from(image2Bytes))).toBe(true)

    const third = await importTar(app, makeTar(v3))
    expect(third.task.result).toMatchObject({ evicted: [1], current: true })
    expect(third.task.result.patches.map((p: { fromBuildId: number }) => p.fromBuildId)).toEqual([
      2,
    ])
    const shown = await appView(app)
    expect(shown.builds.map((b: { buildId: number }) => b.buildId)).toEqual([2, 3])
    expect(shown.patches).toEqual([{ fromBuildId: 2, toBuildId: 3, sizeBytes: expect.any(Number) }])
    expect(shown).toMatchObject({ iCurBuild: 3, dxfName: 'dxf-0003-01' })
    expect(await buildRow(app, 1)).toMatchObject({ state: 'deleted' })
    expect(await allKeys(buildKeys(app.orgId, app.appId, 1).prefix)).toEqual([])
    expect(await objectBytes(image1)).toBeNull()
    expect(await objectBytes(patch12)).toBeNull()
    const rows = await dbOf(env).select().from(patches).where(eq(patches.appId, app.appId)).all()
    expect(rows.map((row) => [row.fromBuildId, row.toBuildId])).toEqual([[2, 3]])
  }, 60_000)

  it('imports builds uploaded back to back one at a time, so each patches from the other', async () => {
    const org = await newOrg('mkraw')
    const app = await buildApp(org)
    const v1 = smallBuildEntries(31)
    expect((await importTar(app, makeTar(v1))).task.state).toBe('succeeded')
    const readme2 = { path: 'game/readme.txt', data: 'version 2\n' }
    const v2 = makeTar(v1.map((entry) => (entry.path === readme2.path ? readme2 : entry)))
    const v3 = makeTar([...v1, { path: 'game/extra.txt', data: 'new' }])
    const second = await uploadBuild(app, v2)
    const third = await uploadBuild(app, v3)

    const [task2, task3] = await Promise.all([
      waitForTask(second.mkraw, 40_000),
      waitForTask(third.mkraw, 40_000),
    ])
    expect(task2.state).toBe('succeeded')
    expect(task3.state).toBe('succeeded')
    expect(Date.parse(task3.started)).toBeLessThan(Date.parse(task2.ended))
    const fromBuilds = (task: { result: { patches: { fromBuildId: number }[] } }) =>
      task.result.patches.map((patch) => patch.fromBuildId)
    expect(fromBuilds(task2)).toEqual([1])
    expect(fromBuilds(task3)).toEqual([2, 1])
    const shown = await appView(app)
    expect(shown).toMatchObject({ iCurBuild: 3, dxfName: 'dxf-0003-01' })
    const pairs = shown.patches.map((p: { fromBuildId: number; toBuildId: number }) => [
      p.fromBuildId,
      p.toBuildId,
    ])
    expect(pairs.sort()).toEqual([
      [1, 2],
      [1, 3],
      [2, 3],
    ])
    expect(await objectBytes(patchKey(app.orgId, app.appId, 3, 2))).not.toBeNull()
  }, 60_000)

  it('holds an import back while an older one of the app has not finished', async () => {
    const org = await newOrg('mkraw')
    const app = await buildApp(org)
    const other = await buildApp(org)
    const v1 = smallBuildEntries(41)
    expect((await importTar(app, makeTar(v1))).task.state).toBe('succeeded')
    const extra = (data: string) => makeTar([...v1, { path: 'game/extra.txt', data }])
    const second = await stagedMkraw(app, extra('two'), 1 << 20)
    const third = await stagedMkraw(app, extra('three'), 1 << 20)
    const elsewhere = await stagedMkraw(other, makeTar(v1), 1 << 20)

    // The newer import waits, again and again, and keeps no tables open meanwhile.
    for (let i = 0; i < 2; i++) {
      const waiting = await stepTask(third.taskName)
      expect(waiting).toMatchObject({
        kind: 'continue',
        cursor: { phase: 'queued', waitingFor: second.taskName },
        delaySec: expect.any(Number),
      })
    }
    expect(await allKeys(buildKeys(app.orgId, app.appId, 3).files)).toEqual([])
    // Another app's import does not wait for this app's.
    expect(await stepTask(elsewhere.taskName)).toMatchObject({ cursor: { phase: 'scan' } })
    // The older one does not wait for the newer one that is queued behind it.
    expect(await stepTask(second.taskName)).toMatchObject({ cursor: { phase: 'scan' } })
    expect(await stepTask(third.taskName)).toMatchObject({ cursor: { phase: 'queued' } })

    await driveTask(second.taskName)
    await driveTask(third.taskName)
    const task3 = (await loadTask(env, third.taskName))!
    expect(task3.state).toBe('succeeded')
    expect(task3.result?.patches).toEqual([
      expect.objectContaining({ fromBuildId: 2 }),
      expect.objectContaining({ fromBuildId: 1 }),
    ])
  }, 60_000)

  it('makes no patch that would not be smaller than the new image', async () => {
    const org = await newOrg('mkraw')
    const app = await buildApp(org)
    const v1 = [{ path: 'one.bin', data: seededBytes(51, 200_000) }]
    // Nothing in common with v1: the patch would carry every block plus its own header.
    const v2 = [{ path: 'two.bin', data: seededBytes(52, 200_000) }]
    expect((await importTar(app, makeTar(v1))).task.state).toBe('succeeded')
    const second = await importTar(app, makeTar(v2))
    expect(second.task.state).toBe('succeeded')
    expect(second.task.result).toMatchObject({ patches: [], skippedPatches: [1], current: true })
    const rows = await dbOf(env).select().from(patches).where(eq(patches.appId, app.appId)).all()
    expect(rows).toEqual([])
    expect(await allKeys(`${appPrefix(app.orgId, app.appId)}patches/`)).toEqual([])
    expect((await appView(app)).patches).toEqual([])

    // One changed block of many still gets its patch.
    const v3 = [{ path: 'two.bin', data: seededBytes(52, 200_000).map((b, i) => (i ? b : b ^ 1)) }]
    const third = await importTar(app, makeTar(v3))
    expect(third.task.result.patches.map((p: { fromBuildId: number }) => p.fromBuildId)).toEqual([
      2,
    ])
    expect(third.task.result.skippedPatches).toEqual([1])
    expect(await objectBytes(patchKey(app.orgId, app.appId, 3, 2))).not.toBeNull()
  }, 60_000)
})
