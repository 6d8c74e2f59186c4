/**
 * `"@"` reads of a launcher still streaming an image that training has replaced: the header's
 * `dxfName` names the image its offsets refer to, and they are mapped through that image's
 * order, not the build's current one. Only a stored image of the trace's build is taken.
 */
import { env } from 'cloudflare:workers'
import { and, eq } from 'drizzle-orm'
import { beforeAll, describe, expect, it } from 'vitest'
import { dbOf } from '../../src/db/client'
import { builds, traces } from '../../src/db/schema'
import { loadBuildModel } from '../../src/domain/training/build-store'
import type { ParsedImageHeader } from '../../src/engine/dxf'
import { slotOffsets } from '../../src/engine/image-layout'
import { decodeNormalisedTrace } from '../../src/engine/trace-codec'
import type { TraceRead } from '../../src/engine/trace-types'
import { buildIdText, imageKeys } from '../../src/storage/keys'
import { driveTask, readImageHeader } from './build-fixtures'
import { newOrg } from './fixtures'
import type { Answer } from './helpers'
import {
  appWithBuild,
  BLOCK,
  gameEntries,
  importBuild,
  stagedMkdxf,
  type TrainingApp,
  traceFile,
  uploadPlayedSessions,
  uploadTrace,
} from './training-fixtures'

let app: TrainingApp
let native: ParsedImageHeader
let trained: ParsedImageHeader

const imageOf = (dxfName: string) => imageKeys(app.orgId, app.appId, dxfName).image

/** A read of one byte of every slot of `image`, slot after slot, one millisecond apart. */
async function everySlot(image: ParsedImageHeader): Promise<TraceRead[]> {
  const model = await loadBuildModel(env, { ...app, blockSize: BLOCK })
  const offsets = slotOffsets(model, image.order)
  return [...image.order].map((_, slot) => [slot, '@', image.headerLength + offsets[slot], 1])
}

/** The blocks stored for an accepted trace, in order of first access. */
async function storedBlocks(answer: Answer): Promise<number[]> {
  expect(answer.status, JSON.stringify(answer.body)).toBe(202)
  const row = await dbOf(env).select().from(traces).where(eq(traces.id, answer.body.traceId)).get()
  const normalised = await env.BUCKET.get(row!.normKey)
  return [
    ...decodeNormalisedTrace(new Uint8Array(await normalised!.arrayBuffer())).firstAccess.blocks,
  ]
}

function expectHeaderRefused(answer: Answer, reason: RegExp) {
  expect(answer.status, JSON.stringify(answer.body)).toBe(422)
  expect(answer.body.details).toEqual([{ line: 1, reason: expect.stringMatching(reason) }])
  expect(answer.body.message).toMatch(/^line 1: dxfName /)
}

// Training publishes `dxf-0001-02` over the native `dxf-0001-01`, as in mkdxf-evaluate.
beforeAll(async () => {
  app = await appWithBuild(await newOrg('traceimage'), {
    nProcessTracesMin: 1000,
    nTracesReliable: 1,
  })
  await uploadPlayedSessions(app, 6)
  await driveTask(await stagedMkdxf(app))
  const build = await dbOf(env)
    .select()
    .from(builds)
    .where(and(eq(builds.appId, app.appId), eq(builds.buildId, app.buildId)))
    .get()
  expect(build?.dxfName).toBe('dxf-0001-02')
  native = await readImageHeader(imageOf('dxf-0001-01'))
  trained = await readImageHeader(imageOf('dxf-0001-02'))
  expect([...trained.order]).not.toEqual([...native.order])
}, 120_000)

describe('POST /client/v1/traces maps "@" reads through the image the header names', () => {
  it('maps the offsets of a replaced image through that image, dxfName "dxf-0001-01"', async () => {
    const reads = await everySlot(native)
    const answer = await uploadTrace(app, traceFile(reads, { dxfName: 'dxf-0001-01' }))
    expect(await storedBlocks(answer)).toEqual([...native.order])
  })

  it('maps them through the current image when dxfName is left out, as before', async () => {
    const answer = await uploadTrace(app, traceFile(await everySlot(trained)))
    expect(await storedBlocks(answer)).toEqual([...trained.order])
  })

  it('takes the current image named', async () => {
    const reads = await everySlot(trained)
    const answer = await uploadTrace(app, traceFile(reads, { dxfName: 'dxf-0001-02' }))
    expect(await storedBlocks(answer)).toEqual([...trained.order])
  })
})

describe('POST /client/v1/traces refuses a dxfName that is not a stored image of the build', () => {
  it('refuses a malformed name', async () => {
    for (const dxfName of ['dxf-1-01', 'image.dxf', '', 'dxf-0001-01/../x', 7, null]) {
      const header = { dxfName } as unknown as { dxfName: string }
      expectHeaderRefused(
        await uploadTrace(app, traceFile([], header)),
        /dxfName must be an image name/,
      )
    }
  })

  it('refuses an image the build never had', async () => {
    expectHeaderRefused(
      await uploadTrace(app, traceFile([], { dxfName: 'dxf-0001-07' })),
      /^dxfName "dxf-0001-07" is not a stored image of build /,
    )
  })

  it("refuses another build's image, even a stored one", async () => {
    const next = await importBuild(app, gameEntries(5))
    const dxfName = `dxf-${buildIdText(next.buildId)}-01`
    expect(await env.BUCKET.head(imageOf(dxfName))).not.toBeNull()
    const answer = await uploadTrace(app, traceFile([], { buildName: app.buildName, dxfName }))
    expectHeaderRefused(answer, /is not an image of build/)
    expect(answer.body.details[0].reason).toBe(
      `dxfName "${dxfName}" is not an image of build ${app.buildName}`,
    )
  }, 60_000)

  it('refuses an image no longer stored, even one read before', async () => {
    const reads = await everySlot(native)
    const header = { buildName: app.buildName, dxfName: 'dxf-0001-01' }
    expect((await uploadTrace(app, traceFile(reads, header))).status).toBe(202)
    await env.BUCKET.delete(imageOf('dxf-0001-01'))
    expectHeaderRefused(
      await uploadTrace(app, traceFile(reads, header)),
      /^dxfName "dxf-0001-01" is not a stored image of build /,
    )
  })
})
