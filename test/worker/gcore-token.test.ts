/**
 * The Gcore secure token (src/domain/deployments/gcore-token.ts) in the Worker, where its MD5
 * comes from `crypto.subtle.digest('MD5')`: against the worked example of nginx's
 * `secure_link_md5` documentation (the format Gcore documents), and against Node's MD5
 * (`node:crypto`, through nodejs_compat) over the documented `<expires><path> <key>` text.
 */
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { gcoreSignedUrl, gcoreToken } from '../../src/domain/deployments/gcore-token'

/** An independent md5 in URL-safe base64 without padding. */
function nodeMd5(text: string): string {
  return createHash('md5')
    .update(text)
    .digest('base64')
    .replaceAll('+', '-')
    .replaceAll('/', '_')
    .replace(/=+$/, '')
}

describe('gcore secure token', () => {
  it("matches the documentation's worked example (with a client address)", async () => {
    const token = await gcoreToken({
      key: 'secret',
      path: '/s/link',
      expires: 2147483647,
      ip: '127.0.0.1',
    })
    expect(token).toBe('_e4Nc3iduzkWRm01TBBNYw')
  })

  it('signs <expires><path> <key> as an independent MD5 does', async () => {
    for (const [path, key] of [
      ['/games/dxf/acme/myGame/0002/dxf-0002-01/image.dxf', 'gcore-key-1'],
      ['/dxf/o/a/0001/dxf-0001-01/image.dxf', 'k'.repeat(32)],
    ]) {
      const expires = 1_700_000_000
      expect(await gcoreToken({ key, path, expires })).toBe(nodeMd5(`${expires}${path} ${key}`))
    }
  })

  it('signs the exact path of a URL with md5 and expires, valid for ttlSec', async () => {
    const now = Date.UTC(2026, 0, 2, 3, 4, 5)
    const url = 'https://cdn.example.com/base/games/dxf/acme/g/0001/dxf-0001-01/image.dxf'
    const signed = new URL(await gcoreSignedUrl(url, 'gcore-key', 600, now))
    const expires = Math.floor(now / 1000) + 600
    expect(signed.origin + signed.pathname).toBe(url)
    expect([...signed.searchParams.keys()]).toEqual(['md5', 'expires'])
    expect(signed.searchParams.get('expires')).toBe(String(expires))
    expect(signed.searchParams.get('md5')).toBe(
      nodeMd5(`${expires}/base/games/dxf/acme/g/0001/dxf-0001-01/image.dxf gcore-key`),
    )
  })
})
