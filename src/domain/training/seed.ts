/**
 * When a new build becomes current its statistics start from the previous current build's
 * (blocks matched by hash, or by path and offset, inherit them), so the counters, coverage and
 * the next run refer to the build launchers now run, and nothing learnt is lost.
 */
import { type BlockStats, emptyStats } from '../../engine/block-stats'
import type { Env } from '../../env'
import type { Logger } from '../../http/log'
import { MissingBuildData } from './build-store'
import { inheritedStats } from './carry'
import { figuresOf, modelOfBuild, type StatsFigures } from './fold'
import { loadStats, saveStats } from './stats-store'

/**
 * The figures of build `toBuildId` once its statistics exist: those already stored, else those
 * inherited from `fromBuildId` (stored now, as including fold batches up to `foldSeq`), else
 * none. Null when the build's tables are not there.
 */
export async function followBuild(
  env: Env,
  app: { orgId: string; appId: string },
  fromBuildId: number | null,
  toBuildId: number,
  foldSeq: number,
  log: Logger,
): Promise<StatsFigures | null> {
  const to = { ...app, buildId: toBuildId }
  const model = await modelOfBuild(env, to)
  if (!model) {
    log.warn('current build has no tables to train on', { buildId: toBuildId })
    return null
  }
  const stored = await loadStats(env, to)
  if (stored) return figuresOf(model, stored.stats)

  let stats: BlockStats = emptyStats(model)
  if (fromBuildId !== null && fromBuildId !== toBuildId) {
    const inherited = await inheritedStats(env, app, fromBuildId, {
      buildId: toBuildId,
      model,
    }).catch((error: unknown) => {
      // The old build went while its blocks were matched: nothing can be carried from it.
      if (error instanceof MissingBuildData) return null
      throw error
    })
    if (inherited) {
      stats = inherited
      await saveStats(env, to, stats, foldSeq)
      log.info('statistics carried to a new build', {
        fromBuildId,
        toBuildId,
        nTraces: stats.nTraces,
      })
    } else {
      log.info('no statistics to carry to a new build: the old one has none, or is gone', {
        fromBuildId,
        toBuildId,
      })
    }
  }
  return figuresOf(model, stats)
}
