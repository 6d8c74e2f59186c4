/**
 * One Durable Object per app, named `<orgName>/<appName>`: the only writer of the app's training
 * state and the only one that decides to start an `mkdxf` task, so concurrent traces can never
 * start two runs. Traces are announced here after they are stored; an alarm a second later
 * folds every trace that arrived meanwhile into the build's statistics and applies the
 * processing rule (API.md section 7).
 */
import { DurableObject } from 'cloudflare:workers'
import { and, eq } from 'drizzle-orm'
import { dbOf, isoNow } from '../db/client'
import { apps, builds } from '../db/schema'
import type { AppRow } from '../domain/apps/find-app'
import { parseTraining } from '../domain/apps/training-settings'
import { foldBatch, markCounted, uncountedTraces } from '../domain/training/fold'
import { followBuild } from '../domain/training/seed'
import { processingDue } from '../domain/training/thresholds'
import { type Env, settingsOf } from '../env'
import { createLogger, type Logger } from '../http/log'
import { submitTask } from '../tasks/service'
import { loadTask, newTaskName } from '../tasks/store'
import {
  type AppIdentity,
  type CoordinatorState,
  FOLD_BATCH,
  type FoldBatch,
  initialState,
  type ProcessOutcome,
  type RunOutcome,
  type TrainingFigures,
} from './coordinator-state'

export type { AppIdentity, ProcessOutcome, RunOutcome, TrainingFigures } from './coordinator-state'

/** Delay between the first trace of a burst and the fold that takes them all. */
export const DEBOUNCE_MS = 1000
/** Batches folded by one alarm before it hands over to the next one. */
const BATCHES_PER_ALARM = 20
/** A run recorded but never submitted (a crash in between) is forgotten after this. */
const UNSUBMITTED_RUN_MS = 5 * 60 * 1000

const PENDING = 'pending:'

export class AppCoordinator extends DurableObject<Env> {
  private state: CoordinatorState = initialState()
  private queue: Promise<unknown> = Promise.resolve()

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env)
    ctx.blockConcurrencyWhile(async () => {
      this.state = (await ctx.storage.get<CoordinatorState>('state')) ?? initialState()
    })
  }

  /** Liveness check used by tests and the admin API. */
  async ping(): Promise<string> {
    return 'pong'
  }

  /** Takes stored traces for counting; they are folded by the next alarm. */
  async tracesAccepted(app: AppIdentity, traceIds: string[]): Promise<void> {
    await this.adopt(app)
    const inBatch = new Set(this.state.batch?.ids ?? [])
    const fresh = traceIds.filter((id) => !inBatch.has(id))
    for (let i = 0; i < fresh.length; i += 100) {
      const entries = Object.fromEntries(fresh.slice(i, i + 100).map((id) => [PENDING + id, 1]))
      await this.ctx.storage.put(entries)
    }
    await this.wakeIn(DEBOUNCE_MS)
  }

  /** Processes the app's collected traces now, skipping the thresholds (`processTraces`). */
  async processNow(app: AppIdentity): Promise<ProcessOutcome> {
    return this.serial(async () => {
      await this.adopt(app)
      const row = await this.appRow()
      if (!row) return refuse(`app ${app.appName} no longer exists`)
      await this.catchUp(row, Number.POSITIVE_INFINITY)
      if (await this.hasPending()) await this.wakeIn(0)
      return this.startRun(row, true)
    })
  }

  /** Called by the `mkdxf` task when it ends; a successful run uses up the new traces it saw. */
  async runFinished(taskName: string, outcome: RunOutcome): Promise<void> {
    await this.serial(async () => {
      await this.finishRun(taskName, outcome)
    })
    await this.wakeIn(DEBOUNCE_MS)
  }

  /**
   * Called before builds are evicted (a new current build, a lower `maxBuilds`): folds what
   * was announced, carries the statistics to the current build while the build they were
   * learnt on is still there to match blocks against, and answers the build training is on
   * now (null when it has none), which eviction must keep.
   */
  async followCurrentBuild(app: AppIdentity): Promise<number | null> {
    const buildId = await this.serial(async () => {
      await this.adopt(app)
      const row = await this.appRow()
      if (row) await this.catchUp(row, BATCHES_PER_ALARM)
      return this.state.buildId
    })
    await this.wakeIn(DEBOUNCE_MS)
    return buildId
  }

  /** New settings: the next alarm applies the processing rule with them. */
  async settingsChanged(app: AppIdentity): Promise<void> {
    await this.adopt(app)
    await this.wakeIn(0)
  }

  /** The app's training figures; a change of current build is picked up by the next alarm. */
  async figures(app: AppIdentity, currentBuildId: number | null): Promise<TrainingFigures> {
    await this.adopt(app)
    if (currentBuildId !== null && currentBuildId !== this.state.buildId) await this.wakeIn(0)
    const { buildId, nTraces, nNewTraces, traceTimeSec, coverage, lastProcessed, run } = this.state
    return {
      buildId,
      nTraces,
      nNewTraces,
      traceTimeSec,
      coverage,
      lastProcessed,
      runningTask: run?.taskName ?? null,
    }
  }

  override async alarm(): Promise<void> {
    await this.serial(async () => {
      if (!this.state.app) return
      const row = await this.appRow()
      if (!row) {
        await this.ctx.storage.deleteAll()
        this.state = initialState()
        return
      }
      await this.catchUp(row, BATCHES_PER_ALARM)
      if (await this.hasPending()) await this.ctx.storage.setAlarm(Date.now())
      await this.startRun(row, false)
    })
  }

  /** Runs `work` after every earlier call's work: folds and run decisions never interleave. */
  private serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work)
    this.queue = run.catch(() => {})
    return run
  }

  private log(): Logger {
    return createLogger(settingsOf(this.env).logLevel, {
      coordinator: this.state.app ? `${this.state.app.orgName}/${this.state.app.appName}` : null,
    })
  }

  private async save(): Promise<void> {
    await this.ctx.storage.put('state', this.state)
  }

  /** Serves `app`; an app deleted and created again under the same name starts afresh. */
  private async adopt(app: AppIdentity): Promise<void> {
    const known = this.state.app
    if (known?.appId === app.appId && known.orgId === app.orgId) {
      if (known.appName === app.appName && known.orgName === app.orgName) return
    } else if (known) {
      await this.ctx.storage.deleteAll()
      this.state = initialState()
    }
    this.state.app = app
    await this.save()
  }

  private async wakeIn(ms: number): Promise<void> {
    const at = Date.now() + ms
    const set = await this.ctx.storage.getAlarm()
    if (set === null || set > at) await this.ctx.storage.setAlarm(at)
  }

  private async hasPending(): Promise<boolean> {
    return (await this.ctx.storage.list({ prefix: PENDING, limit: 1 })).size > 0
  }

  private async appRow(): Promise<AppRow | null> {
    const app = this.state.app as AppIdentity
    const row = await dbOf(this.env).select().from(apps).where(eq(apps.id, app.appId)).get()
    return row ?? null
  }

  /**
   * Settles a finished run, folds up to `maxBatches` batches, and follows a new current build.
   * Traces announced for the build training is on are folded before the statistics move on, so
   * they are carried too; a batch that holds traces of the new build follows it first.
   */
  private async catchUp(row: AppRow, maxBatches: number): Promise<void> {
    await this.settleRun()
    for (let n = 0; n < maxBatches; n++) {
      if (!(await this.foldNext())) break
    }
    // The row as it is now: a build may have become current while batches were folded.
    await this.follow((await this.appRow()) ?? row)
  }

  /** Moves the figures to the app's current build when they are on another one. */
  private async follow(row: AppRow): Promise<void> {
    if (row.iCurBuild === null || row.iCurBuild === this.state.buildId) return
    const figures = await followBuild(
      this.env,
      { orgId: row.orgId, appId: row.id },
      this.state.buildId,
      row.iCurBuild,
      this.state.foldSeq,
      this.log(),
    )
    if (figures) {
      Object.assign(this.state, figures, { buildId: row.iCurBuild })
      // When nothing could be carried, no trace counted on the new build is new either.
      this.state.nNewTraces = Math.min(this.state.nNewTraces, this.state.nTraces)
      await this.save()
    }
  }

  /** Folds the next batch of pending traces; false when none is pending. */
  private async foldNext(): Promise<boolean> {
    const app = this.state.app as AppIdentity
    let batch = this.state.batch
    if (!batch) {
      const pending = await this.ctx.storage.list({ prefix: PENDING, limit: FOLD_BATCH })
      if (pending.size === 0) return false
      const ids = [...pending.keys()].map((key) => key.slice(PENDING.length))
      const items = await uncountedTraces(this.env, app.appId, ids)
      batch = { seq: this.state.foldSeq + 1, ids, items }
      this.state.batch = batch
      await this.save()
    }

    let added = 0
    let figures = null
    // Builds in ascending order: what belongs to the build training is on comes first, and the
    // app's current build (read per batch) is followed before its own traces are folded.
    const row = await this.appRow()
    for (const [buildId, items] of byBuild(batch)) {
      if (row && buildId === row.iCurBuild) await this.follow(row)
      const owner = { orgId: app.orgId, appId: app.appId, buildId }
      const after = await foldBatch(this.env, owner, items, batch.seq, this.log())
      if (after && buildId === this.state.buildId) {
        figures = after
        added += items.length
      }
    }
    await markCounted(
      this.env,
      batch.items.map((item) => item.id),
    )

    if (figures) Object.assign(this.state, figures)
    this.state.nNewTraces = Math.min(this.state.nNewTraces + added, this.state.nTraces)
    this.state.foldSeq = batch.seq
    this.state.batch = null
    // Both writes without an await between them: the storage commits them together.
    const removed = this.ctx.storage.delete(batch.ids.map((id) => PENDING + id))
    const saved = this.save()
    await Promise.all([removed, saved])
    return true
  }

  /** A run whose task ended without telling us (a dead step, a lost call) is settled here. */
  private async settleRun(): Promise<void> {
    const run = this.state.run
    if (!run) return
    const task = await loadTask(this.env, run.taskName)
    if (!task) {
      if (run.submitted || Date.now() - Date.parse(run.since) > UNSUBMITTED_RUN_MS) {
        this.state.run = null
        await this.save()
      }
      return
    }
    if (['succeeded', 'failed', 'expired'].includes(task.state)) {
      const deployed = task.result?.deployed
      await this.finishRun(run.taskName, {
        succeeded: task.state === 'succeeded',
        deployed: typeof deployed === 'boolean' ? deployed : undefined,
      })
    }
  }

  /**
   * Settles the app's run: a successful one uses up the new traces it saw, a failed one holds
   * automatic runs back until more traces arrive; but a run that published nothing, either
   * way, while its build stopped being current does neither (those traces count for the run
   * on the build that replaced it, which inherits them).
   */
  private async finishRun(taskName: string, outcome: RunOutcome): Promise<void> {
    const run = this.state.run
    if (run?.taskName !== taskName) return
    const { succeeded, deployed } = outcome
    if (deployed !== true && run.buildId !== undefined) {
      const row = await this.appRow()
      if (row && row.iCurBuild !== run.buildId) {
        this.log().info('run ended on a build no longer current; its traces stay new', {
          taskName,
          buildId: run.buildId,
        })
        this.state.run = null
        await this.save()
        return
      }
    }
    if (succeeded) {
      this.state.nNewTraces = Math.max(0, this.state.nNewTraces - run.nNewAtSubmit)
      this.state.lastProcessed = isoNow()
      this.state.failedAtNew = null
    } else {
      this.state.failedAtNew = this.state.nNewTraces
    }
    this.state.run = null
    await this.save()
  }

  /** Submits the app's one `mkdxf` run when it is due (or asked for); never two at once. */
  private async startRun(row: AppRow, manual: boolean): Promise<ProcessOutcome> {
    const app = this.state.app as AppIdentity
    if (this.state.run) return refuse(`mkdxf task ${this.state.run.taskName} is already running`)
    if (row.iCurBuild === null || !row.dxfName || this.state.buildId !== row.iCurBuild) {
      return refuse(`app ${app.appName} has no current image to train yet`)
    }
    if (!manual) {
      if (!processingDue(parseTraining(row.training), this.state)) return refuse('not due')
      const failedAt = this.state.failedAtNew
      if (failedAt !== null && this.state.nNewTraces <= failedAt) return refuse('not due')
    }

    const taskName = newTaskName('mkdxf')
    this.state.run = {
      taskName,
      nNewAtSubmit: this.state.nNewTraces,
      manual,
      submitted: false,
      since: isoNow(),
      buildId: row.iCurBuild,
    }
    await this.save()
    try {
      const build = await dbOf(this.env)
        .select({ buildName: builds.buildName })
        .from(builds)
        .where(and(eq(builds.appId, row.id), eq(builds.buildId, row.iCurBuild)))
        .get()
      await submitTask(this.env, {
        type: 'mkdxf',
        taskName,
        orgId: app.orgId,
        appId: app.appId,
        appName: app.appName,
        buildName: build?.buildName ?? null,
        params: {
          orgName: app.orgName,
          buildId: row.iCurBuild,
          dxfName: row.dxfName,
          manual,
          nNewTraces: this.state.nNewTraces,
        },
      })
    } catch (error) {
      this.state.run = null
      await this.save()
      throw error
    }
    this.state.run = { ...this.state.run, submitted: true }
    await this.save()
    this.log().info('mkdxf submitted', { taskName, manual, nNewTraces: this.state.nNewTraces })
    return { ok: true, taskName }
  }
}

function refuse(message: string): ProcessOutcome {
  return { ok: false, status: 409, code: 'conflict', message }
}

/** The batch's items by build, in ascending build order. */
function byBuild(batch: FoldBatch): [number, FoldBatch['items']][] {
  const groups = new Map<number, FoldBatch['items']>()
  for (const item of batch.items) {
    const list = groups.get(item.buildId) ?? []
    list.push(item)
    groups.set(item.buildId, list)
  }
  return [...groups].sort((a, b) => a[0] - b[0])
}

/** The coordinator stub of an app. */
export function coordinatorOf(env: Env, orgName: string, appName: string) {
  return env.APP_COORDINATOR.get(env.APP_COORDINATOR.idFromName(`${orgName}/${appName}`))
}
