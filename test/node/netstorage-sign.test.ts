/**
 * The NetStorage request signer (src/domain/origins/netstorage-sign.ts) against the worked
 * example of Akamai's documentation, and against the test receiver's independent check (Node
 * crypto), which must accept what the signer makes and refuse any change.
 */
import { createHmac } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { describe, expect, it } from 'vitest'
import {
  netStorageAuthData,
  netStorageHeaders,
  netStorageSignature,
  netStorageSignString,
} from '../../src/domain/origins/netstorage-sign'
import { netStorageProblem } from '../worker/origin-servers/netstorage-receiver'

const account = { keyName: 'upload1', key: 'a-shared-secret', cpCode: '123456' }

function request(url: string, headers: Record<string, string>): IncomingMessage {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]))
  return { url, headers: lower } as unknown as IncomingMessage
}

describe('netstorage signing', () => {
  it("matches the documentation's worked example", async () => {
    const authData = netStorageAuthData('key1', 1280000000, '382644692')
    expect(authData).toBe('5, 0.0.0.0, 0.0.0.0, 1280000000, 382644692, key1')
    const text = netStorageSignString(
      authData,
      '/dir1/dir2/file.html',
      'version=1&action=upload&md5=0123456789abcdef0123456789abcdef&mtime=1260000000',
    )
    expect(await netStorageSignature('abcdefghij', text)).toBe(
      'vuCWPzdEW5OUlH1rLfHokWAZAWSdaGTM8yX3bgIDWtA=',
    )
  })

  it('signs exactly what an independent HMAC over the documented string gives', async () => {
    const path = '/123456/games/dxf/acme/myGame/0001/dxf-0001-01/image.dxf'
    const action = 'version=1&action=upload&upload-type=binary'
    const headers = await netStorageHeaders({
      ...account,
      path,
      action,
      time: 1700000000,
      uniqueId: '42',
    })
    const authData = '5, 0.0.0.0, 0.0.0.0, 1700000000, 42, upload1'
    expect(headers['X-Akamai-ACS-Auth-Data']).toBe(authData)
    expect(headers['X-Akamai-ACS-Action']).toBe(action)
    const expected = createHmac('sha256', account.key)
      .update(`${authData}${path}\nx-akamai-acs-action:${action}\n`)
      .digest('base64')
    expect(headers['X-Akamai-ACS-Auth-Sign']).toBe(expected)
  })

  it('makes requests the receiver accepts, and the receiver refuses any alteration', async () => {
    const path = '/123456/p/dxf/o/a/0001/dxf-0001-01/profile.json'
    const sign = () => netStorageHeaders({ ...account, path, action: 'version=1&action=upload' })

    expect(netStorageProblem(request(path, await sign()), account, new Set())).toBeNull()

    const seen = new Set<string>()
    const once = await sign()
    expect(netStorageProblem(request(path, once), account, seen)).toBeNull()
    expect(netStorageProblem(request(path, once), account, seen)).toBe('unique id reused')

    const otherPath = request('/123456/p/other.json', await sign())
    expect(netStorageProblem(otherPath, account, new Set())).toBe('signature does not match')

    const otherAction = { ...(await sign()), 'X-Akamai-ACS-Action': 'version=1&action=delete' }
    expect(netStorageProblem(request(path, otherAction), account, new Set())).toBe(
      'signature does not match',
    )

    const wrongKey = await netStorageHeaders({
      ...account,
      key: 'not-the-key',
      path,
      action: 'version=1&action=upload',
    })
    expect(netStorageProblem(request(path, wrongKey), account, new Set())).toBe(
      'signature does not match',
    )

    const stale = await netStorageHeaders({
      ...account,
      path,
      action: 'version=1&action=upload',
      time: Math.floor(Date.now() / 1000) - 600,
    })
    expect(netStorageProblem(request(path, stale), account, new Set())).toBe(
      'time is too far from now',
    )
  })
})
