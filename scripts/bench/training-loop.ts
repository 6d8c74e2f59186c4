/**
 * The service side of a preload benchmark, the same for every program: pack the folder, start
 * a local instance, set up an app whose thresholds make one run over all uploaded traces,
 * import the build, upload the traces with the trace key, wait until the service has trained
 * and published by itself, fetch the image from the depot as a launcher would (checking every
 * file against the tar), and measure the held-out sessions on it beside the reference orders.
 */

import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { TrainingSettings } from '../../cli/commands/app-create'
import { packBuild } from '../../cli/commands/build-pack'
import { uploadBuild } from '../../cli/commands/build-upload'
import { evaluateImage, type ImageEvaluation } from '../../cli/commands/eval'
import { fetchImage } from '../../cli/commands/image-fetch'
import type { VerifyReport } from '../../cli/commands/image-verify'
import { describeFailure, type TaskView } from '../../cli/commands/task-wait'
import { uploadTrace } from '../../cli/commands/trace-upload'
import type { ParsedImageHeader } from '../../src/engine/dxf'
import {
  DemoStepError,
  freePort,
  getTraining,
  setUpApp,
  startLocalService,
  step,
  waitForApp,
} from '../demo'

/** What {@link trainAndMeasure} needs. */
export interface TrainingLoopOptions {
  /** The build folder. */
  appDir: string
  workDir: string
  appName: string
  blockSize: number
  /** Trace files the service learns from, and those it never sees. */
  uploaded: string[]
  heldOut: string[]
  mbits?: number[]
  port?: number
  keep?: boolean
  log: (line: string) => void
}

/** What the loop saw. */
export interface TrainingLoopResult {
  tarBytes: number
  files: number
  nativeDxfName: string
  dxfName: string
  run: Record<string, unknown>
  fetched: { sizeBytes: number; requests: number; blocks: number; verified?: VerifyReport }
  report: ImageEvaluation
  /** The fetched image's header (its order, file table and hashes). */
  header: ParsedImageHeader
}

/** Polls the app's training until a processing run is recorded and none is running. */
export async function waitForRun(client: Parameters<typeof getTraining>[0], appName: string) {
  const deadline = Date.now() + 10 * 60_000
  for (;;) {
    const training = await getTraining(client, appName)
    const run = training.runs?.[0] as Record<string, unknown> | undefined
    if (run && training.state !== 'processing') return run
    if (Date.now() > deadline) throw new Error(`no run finished in 10 minutes: ${training.state}`)
    await new Promise((done) => setTimeout(done, 1000))
  }
}

/** Runs the loop; throws a {@link DemoStepError} naming the step that failed. */
export async function trainAndMeasure(opts: TrainingLoopOptions): Promise<TrainingLoopResult> {
  const { log, uploaded, heldOut } = opts
  // One run over all uploaded traces: thresholds equal to their number.
  const training: TrainingSettings = {
    nTracesReliable: uploaded.length,
    nProcessTracesMin: uploaded.length,
    minCoverage: 0,
    maxCoverage: 1,
    minTraceTimeSec: 0,
  }
  const tar = join(opts.workDir, 'build.tar')
  const entries = await step('pack the folder as the build', log, () =>
    packBuild({ dir: opts.appDir, out: tar }),
  )
  const service = await step('start the service', log, async () =>
    startLocalService({
      port: opts.port ?? (await freePort()),
      stateDir: join(opts.workDir, 'state'),
      logFile: join(opts.workDir, 'service.log'),
    }),
  )
  log(`bench:   service on ${service.url} (log ${service.logFile})`)
  try {
    const { publisher, launcher, appName, orgName } = await step('set up the app', log, () =>
      setUpApp({
        url: service.url,
        orgName: 'bench',
        appName: opts.appName,
        blockSize: opts.blockSize,
        training,
      }),
    )
    const build = await step('upload the build and wait for mkraw', log, async () => {
      const result = await uploadBuild(publisher, { tar, appName, log: false, timeoutMs: 300_000 })
      if (result.mkraw?.state !== 'succeeded') {
        throw new Error(describeFailure(result.mkraw as TaskView))
      }
      return result
    })
    const first = await step('wait for the first (native) image', log, () =>
      waitForApp(publisher, appName, { timeoutMs: 300_000, log }),
    )
    await step(`upload ${uploaded.length} traces with the trace key`, log, async () => {
      for (const file of uploaded) {
        const { duplicate } = await uploadTrace(launcher, appName, file)
        if (duplicate) throw new Error(`${file} was taken for a duplicate`)
      }
    })
    const run = await step('wait for the service to process the traces', log, () =>
      waitForRun(publisher, appName),
    )
    log(`bench:   run ${run.taskName}: ${run.reason}`)
    const current = await step('wait for the published image', log, () =>
      waitForApp(publisher, appName, {
        changedFrom: run.deployed ? first.dxfName : undefined,
        timeoutMs: 300_000,
        log,
      }),
    )
    const fetched = await step('fetch the image from the depot and verify it', log, () =>
      fetchImage(launcher, orgName, appName, {
        outDir: join(opts.workDir, 'fetched'),
        verifyAgainst: tar,
      }),
    )
    if (fetched.launch?.dxfName !== current.dxfName || !fetched.verified) {
      throw new DemoStepError('fetch', `got ${fetched.launch?.dxfName}, app has ${current.dxfName}`)
    }
    const report = await step('measure the held-out sessions', log, () =>
      evaluateImage({
        image: fetched.launch?.image.url as string,
        traces: heldOut,
        train: uploaded,
        mbits: opts.mbits,
        bestShared: true,
      }),
    )
    return {
      header: fetched.header,
      tarBytes: build.sizeBytes,
      files: entries.filter((entry) => entry.type === 'file').length,
      nativeDxfName: first.dxfName as string,
      dxfName: current.dxfName as string,
      run,
      fetched: {
        sizeBytes: fetched.sizeBytes,
        requests: fetched.requests,
        blocks: fetched.blocks,
        verified: fetched.verified,
      },
      report,
    }
  } catch (error) {
    if (error instanceof DemoStepError) {
      error.message += `\n--- last lines of ${service.logFile} ---\n${service.tail(25)}`
    }
    throw error
  } finally {
    await service.stop()
    if (!opts.keep) await rm(join(opts.workDir, 'state'), { recursive: true, force: true })
  }
}
