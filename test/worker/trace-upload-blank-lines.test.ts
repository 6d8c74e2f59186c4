/**
 * `POST /client/v1/traces` with blank lines before the header: they are skipped, as everywhere
 * in a trace, and still count for the line numbers of errors (docs/training.md, section 1).
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { newOrg } from './fixtures'
import {
  appWithBuild,
  gzip,
  playedSession,
  type TrainingApp,
  traceFile,
  uploadTrace,
} from './training-fixtures'

let app: TrainingApp

beforeAll(async () => {
  app = await appWithBuild(await newOrg('blanklines'))
}, 60_000)

describe('POST /client/v1/traces, blank lines before the header', () => {
  it('accepts the trace, plain or gzip', async () => {
    const plain = await uploadTrace(app, `\n \r\n${traceFile(playedSession(1))}`)
    expect(plain.status, JSON.stringify(plain.body)).toBe(202)
    const zipped = await uploadTrace(app, await gzip(`\n\n${traceFile(playedSession(2))}`), {
      'content-encoding': 'gzip',
    })
    expect(zipped.status, JSON.stringify(zipped.body)).toBe(202)
  })

  it('names the real line of a bad header or read', async () => {
    const unknownBuild = await uploadTrace(
      app,
      `\n\n${traceFile(playedSession(3), { buildName: 'build-9999' })}`,
    )
    expect(unknownBuild.status).toBe(422)
    expect(unknownBuild.body.details).toEqual([
      { line: 3, reason: expect.stringMatching(/build-9999.*not a kept build/) },
    ])

    const shortSession = traceFile([[0, 'game/boot.bin', 0, 1]], { durationMs: 10 })
    const late = await uploadTrace(app, `\n${shortSession}\n[20,"game/boot.bin",0,1]\n`)
    expect(late.status).toBe(422)
    expect(late.body.details).toEqual([
      { line: 2, reason: expect.stringMatching(/durationMs 10 is before the last read/) },
    ])

    const unknownPath = await uploadTrace(app, `\n\n${traceFile([[0, 'game/none.bin', 0, 1]])}`)
    expect(unknownPath.status).toBe(422)
    expect(unknownPath.body.message).toBe('line 4: unknown path "game/none.bin"')
  })

  it('skips every kind of blank line, ASCII or not, and counts each', async () => {
    // Spaces, tab, CR, VT and FF; a BOM alone; a no-break space; ideographic space and BOM.
    const blanks = ['', ' ', '\t', '\r', ' \t\r', '\v\f', '\ufeff', '\u00a0', ' \u3000\ufeff ']
    const before = `${blanks.join('\n')}\n`
    const accepted = await uploadTrace(app, `${before}${traceFile(playedSession(4))}`)
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202)
    const zipped = await uploadTrace(app, await gzip(`${before}${traceFile(playedSession(5))}`), {
      'content-encoding': 'gzip',
    })
    expect(zipped.status, JSON.stringify(zipped.body)).toBe(202)

    const named = await uploadTrace(
      app,
      `${before}${traceFile(playedSession(6), { buildName: 'build-9999' })}`,
    )
    expect(named.status).toBe(422)
    expect(named.body.details).toEqual([
      { line: blanks.length + 1, reason: expect.stringMatching(/build-9999.*not a kept build/) },
    ])
  })

  it('counts a megabyte of blank lines before the header', async () => {
    const lines = 1024 * 1024
    const text = `${'\n'.repeat(lines)}${traceFile(playedSession(7), { buildName: 'build-9999' })}`
    const answer = await uploadTrace(app, await gzip(text), { 'content-encoding': 'gzip' })
    expect(answer.status).toBe(422)
    expect(answer.body.details).toEqual([
      { line: lines + 1, reason: expect.stringMatching(/build-9999.*not a kept build/) },
    ])
  })

  it('still refuses a body of blank lines as empty', async () => {
    const answer = await uploadTrace(app, '\n \n')
    expect(answer.status).toBe(422)
    expect(answer.body.message).toBe('line 1: the trace is empty: the header is missing')
  })
})
