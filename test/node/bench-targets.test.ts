import { describe, expect, it } from 'vitest'
import { evaluatePreload, ROW_NAMES } from '../../cli/commands/eval-report'
import { targetVerdicts } from '../../scripts/bench/targets'
import { buildModel } from '../../src/engine/build-model'
import { nativeOrder } from '../../src/engine/order'
import { BEST_SHARED_ROW } from '../../src/engine/shared-bound'
import type { FirstAccess } from '../../src/engine/trace-types'
import { filesFor } from './engine-fixtures'

const MIB = 2 ** 20

function trace(pairs: Array<[block: number, tMs: number]>): FirstAccess {
  return {
    blocks: Uint32Array.from(pairs.map(([block]) => block)),
    tMs: Uint32Array.from(pairs.map(([, t]) => t)),
  }
}

describe('the best shared row in a preload report', () => {
  // Ten blocks of 1 MiB; three sessions that start at once. Two share blocks 0-1 and each
  // needs a block of its own; the third needs block 9, the last in tar order.
  const model = buildModel(MIB, filesFor(MIB, [['data', 10 * MIB]]))
  const traces = [
    trace([
      [0, 0],
      [1, 0],
      [5, 0],
    ]),
    trace([
      [0, 0],
      [1, 0],
      [6, 0],
    ]),
    trace([[9, 0]]),
  ]

  it('comes only when asked, before ideal, and says which sessions set it', async () => {
    const plain = await evaluatePreload(model, nativeOrder(model), traces, { mbits: [100] })
    expect(plain.rows.map((row) => row.name)).toEqual([...ROW_NAMES])
    expect(plain.bestShared).toBeUndefined()

    const report = await evaluatePreload(model, nativeOrder(model), traces, {
      mbits: [100],
      bestShared: true,
    })
    const names = report.rows.map((row) => row.name)
    expect(names).toEqual([
      'full download',
      'native',
      'file-level',
      'image',
      'best shared',
      'ideal',
    ])
    const median = (name: string) =>
      report.rows.find((row) => row.name === name)!.bandwidths[0].median.bytes
    // Any two sessions need 4 MiB together (the pair: blocks 0, 1, 5, 6); each alone 3 or 1.
    expect(median(BEST_SHARED_ROW)).toBe(4 * MIB)
    expect(median('ideal')).toBe(3 * MIB)
    expect(median('image')).toBe(7 * MIB)
    expect(report.bestShared?.exact).toBe(true)
    expect(report.bestShared?.medianSessions[0]).toHaveLength(2)
  })

  it('tells whether a shared order can meet the targets at all', async () => {
    const report = await evaluatePreload(model, nativeOrder(model), traces, {
      mbits: [100],
      bestShared: true,
    })
    const verdicts = targetVerdicts(report)
    expect(verdicts[0]).toMatch(/^image within 1.25x of ideal: does NOT hold \(7.00 MiB = 2.33x/)
    // 4 MiB is 1.33 times the ideal's 3 MiB: no shared order meets the first target here.
    expect(verdicts[3]).toMatch(
      /^1.25x of ideal reachable by a shared order: NO \(best shared 4.00 MiB = 1.33x/,
    )
    expect(verdicts[4]).toMatch(/^1\/10 of native reachable by a shared order: NO/)
    const without = await evaluatePreload(model, nativeOrder(model), traces, { mbits: [100] })
    expect(targetVerdicts(without)).toHaveLength(3)
  })
})
