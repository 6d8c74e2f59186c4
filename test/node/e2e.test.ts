/**
 * The whole loop over real HTTP against `wrangler dev` (started by scripts/start.ts on its own
 * port and state folder): a real tar of the TypeScript compiler's folder, real sessions of
 * `tsc` recorded under strace, the service processing the traces by itself, the new image
 * streamed from the depot and measured on sessions it never saw. Each step is its own test so
 * a failure names the step, with the service's status and error envelope in the message.
 */
import { mkdtemp, realpath, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { packBuild } from '../../cli/commands/build-pack'
import { uploadBuild } from '../../cli/commands/build-upload'
import { evaluateImage, type ImageEvaluation } from '../../cli/commands/eval'
import { type FetchedImage, fetchImage } from '../../cli/commands/image-fetch'
import { uploadTrace } from '../../cli/commands/trace-upload'
import {
  type DemoSetup,
  freePort,
  getTraining,
  type LocalService,
  type RecordedSession,
  recordSessions,
  setUpApp,
  startLocalService,
  waitForApp,
} from '../../scripts/demo'

const buildDir = resolve(import.meta.dirname, '../../node_modules/typescript')
const SESSIONS = 10
/** Sessions 5 and 10 are never uploaded: the image is measured on them. */
const HELD_OUT = new Set([4, 9])
const STEP_MS = 5 * 60_000

let work: string
let tar: string
let service: LocalService | undefined
let sessions: RecordedSession[] = []
let setup: DemoSetup | undefined
let nativeDxf: string | null = null
let learntDxf: string | null = null
let fetched: FetchedImage | undefined
const quiet = () => {}

/** The setup of the earlier step, or a failure that says which step to look at. */
function need<T>(value: T | undefined | null, step: string): T {
  if (value === undefined || value === null) throw new Error(`skipped: the step "${step}" failed`)
  return value
}

beforeAll(async () => {
  work = await realpath(await mkdtemp(join(tmpdir(), 'rockit-e2e-')))
  tar = join(work, 'build.tar')
  await packBuild({ dir: buildDir, out: tar })
  sessions = await recordSessions({ buildDir, workDir: work, count: SESSIONS, log: quiet })
  service = await startLocalService({
    port: await freePort(),
    stateDir: join(work, 'state'),
    logFile: join(work, 'service.log'),
  })
}, STEP_MS)

afterAll(async () => {
  await service?.stop()
  await rm(work, { recursive: true, force: true })
}, 60_000)

describe('rockit end to end against wrangler dev', () => {
  it(
    'sets up an org, a machine user, an r2 deployment and an app',
    async () => {
      setup = await setUpApp({
        url: need(service, 'start the service').url,
        orgName: 'e2e',
        appName: 'tsc',
        blockSize: 16384,
        training: {
          nTracesReliable: 4,
          nProcessTracesMin: 4,
          minCoverage: 0,
          maxCoverage: 1,
          minTraceTimeSec: 0,
        },
      })
      expect(setup.publisher.credentials.apiKey).toMatch(/.{16,}/)
      expect(setup.launcher.credentials.traceKey).toMatch(/.{16,}/)
    },
    STEP_MS,
  )

  it(
    'uploads the build tar and makes its first image',
    async () => {
      const { publisher, appName } = need(setup, 'set up')
      const uploaded = await uploadBuild(publisher, {
        tar,
        appName,
        log: false,
        timeoutMs: STEP_MS,
      })
      expect(uploaded.mkraw?.state, JSON.stringify(uploaded.mkraw)).toBe('succeeded')
      const app = await waitForApp(publisher, appName, { timeoutMs: STEP_MS, log: quiet })
      expect(app.iCurBuild).toBe(uploaded.build.buildId)
      nativeDxf = app.dxfName
    },
    STEP_MS,
  )

  it(
    'takes real traces and publishes a learnt image by itself',
    async () => {
      const { publisher, launcher, appName } = need(setup, 'set up')
      need(nativeDxf, 'upload the build')
      const uploaded = sessions.filter((_, i) => !HELD_OUT.has(i))
      for (const session of uploaded) {
        const trace = await uploadTrace(launcher, appName, session.file)
        expect(trace.duplicate, session.name).toBe(false)
      }
      // The same session again is the same trace.
      const again = await uploadTrace(launcher, appName, uploaded[0].file)
      expect(again.duplicate).toBe(true)

      const app = await waitForApp(publisher, appName, {
        changedFrom: nativeDxf,
        timeoutMs: STEP_MS,
        log: quiet,
      })
      learntDxf = app.dxfName
      const training = await getTraining(publisher, appName)
      expect(training.nTraces).toBe(uploaded.length)
      const runs = (training.runs ?? []) as Array<{ deployed: boolean }>
      expect(runs.some((run) => run.deployed)).toBe(true)
    },
    STEP_MS,
  )

  it(
    'streams the learnt image from the depot and rebuilds the build exactly',
    async () => {
      const { launcher, orgName, appName } = need(setup, 'set up')
      need(learntDxf, 'processing')
      fetched = await fetchImage(launcher, orgName, appName, {
        outDir: join(work, 'fetched'),
        verifyAgainst: tar,
        chunkBytes: 4 * 1024 * 1024,
      })
      expect(fetched.launch?.dxfName).toBe(learntDxf)
      expect(fetched.launch?.image.sizeBytes).toBe(fetched.sizeBytes)
      expect(fetched.launch?.image.sha256, 'the launcher is told the SHA-256').toBe(fetched.sha256)
      expect(fetched.verified?.files).toBe(fetched.files)
      expect(fetched.verified?.bytes).toBe(fetched.header.dataLength)
      // Two requests for the header, then ranged chunks of block data.
      const chunks = Math.ceil(fetched.header.dataLength / (4 * 1024 * 1024))
      expect(fetched.requests).toBe(2 + chunks)
    },
    STEP_MS,
  )

  it(
    'starts held-out sessions sooner than native order',
    async () => {
      const image = need(fetched, 'fetch').launch?.image.url as string
      const report: ImageEvaluation = await evaluateImage({
        image,
        traces: sessions.filter((_, i) => HELD_OUT.has(i)).map((s) => s.file),
        train: sessions.filter((_, i) => !HELD_OUT.has(i)).map((s) => s.file),
      })
      const median = (row: string, mbit: number) =>
        report.rows.find((r) => r.name === row)?.bandwidths.find((c) => c.mbit === mbit)?.median
          .bytes as number
      expect(report.rows.map((row) => row.name)).toEqual([
        'full download',
        'native',
        'file-level',
        'image',
        'ideal',
      ])
      for (const mbit of [25, 100]) {
        expect(median('image', mbit), `image vs native at ${mbit} Mbit/s`).toBeLessThan(
          median('native', mbit),
        )
        expect(median('image', mbit)).toBeGreaterThanOrEqual(median('ideal', mbit))
      }
    },
    STEP_MS,
  )
})
