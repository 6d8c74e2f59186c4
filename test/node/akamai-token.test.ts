/**
 * The Akamai EdgeAuth token (src/domain/deployments/akamai-token.ts) against an independent
 * HMAC (Node's `crypto.createHmac`) over the published field order: `exp=<t>~acl=<acl>` signed
 * with the key read as hex, then `~hmac=<hex>`.
 */
import { createHmac } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  akamaiSignedUrl,
  akamaiToken,
  isAkamaiKey,
} from '../../src/domain/deployments/akamai-token'

function expected(key: string, expires: number, acl: string): string {
  const fields = `exp=${expires}~acl=${acl}`
  const mac = createHmac('sha256', Buffer.from(key, 'hex')).update(fields).digest('hex')
  return `${fields}~hmac=${mac}`
}

describe('akamai token', () => {
  it('is exp, acl and the HMAC-SHA256 of both keyed with the hex key', async () => {
    const cases: [string, number, string][] = [
      ['0123456789abcdef0123456789abcdef', 1_700_000_600, '/games/dxf/acme/myGame/0002/*'],
      ['AbCdEf0011', 2_000_000_000, '/dxf/o/a/0001/dxf-0001-01/*'],
    ]
    for (const [key, expires, acl] of cases) {
      expect(await akamaiToken({ key, acl, expires })).toBe(expected(key, expires, acl))
    }
  })

  it('takes only keys of an even number of hex digits', async () => {
    expect(isAkamaiKey('00ff')).toBe(true)
    for (const key of ['', 'abc', 'token-key', '0g']) expect(isAkamaiKey(key)).toBe(false)
    await expect(akamaiToken({ key: 'abc', acl: '/*', expires: 1 })).rejects.toThrow(/hex/)
  })

  it('signs a URL for its whole directory as hdnts, valid for ttlSec', async () => {
    const now = Date.UTC(2026, 0, 2, 3, 4, 5, 678)
    const url = 'https://cdn.example.com/edge/games/dxf/acme/g/0003/dxf-0003-02/image.dxf'
    const signed = await akamaiSignedUrl(url, 'a1b2c3d4', 300, now)
    const expires = Math.floor(now / 1000) + 300
    expect(signed).toBe(
      `${url}?hdnts=${expected('a1b2c3d4', expires, '/edge/games/dxf/acme/g/0003/dxf-0003-02/*')}`,
    )
  })
})
