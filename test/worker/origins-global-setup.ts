/**
 * Real origins on loopback for the deployment and deploy tests, started once in Node beside the
 * Workers pool:
 *
 * - s3rver (an S3-compatible store) in a temp dir, reached only through `sigv4-proxy`, which
 *   verifies SigV4 signatures (s3rver itself does not: a wrong secret would pass);
 * - the same store behind a proxy that drops `Range` (an origin without Range support);
 * - a NetStorage HTTP API receiver that verifies Akamai's request signatures;
 * - a loopback port nothing listens on (an unreachable origin).
 *
 * Their addresses and credentials reach the tests through `provide('origins', ...)`.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import S3rver from 's3rver'
import type { TestProject } from 'vitest/node'
import { startNetStorageReceiver } from './origin-servers/netstorage-receiver'
import { type RunningServer, startSigV4Proxy } from './origin-servers/sigv4-proxy'

export interface OriginServers {
  /** S3 endpoint (SigV4 verified), e.g. `http://127.0.0.1:41234`. */
  s3: string
  /** The same store, ignoring `Range`. */
  s3NoRange: string
  bucket: string
  accessKeyId: string
  secretAccessKey: string
  /** NetStorage HTTP API base URL. */
  netstorage: string
  keyName: string
  key: string
  cpCode: string
  /** An http URL on a loopback port with no listener. */
  closed: string
}

declare module 'vitest' {
  export interface ProvidedContext {
    origins: OriginServers
  }
}

function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo
      probe.close(() => resolve(port))
    })
  })
}

export default async function setup(project: TestProject) {
  const directory = mkdtempSync(join(tmpdir(), 'rockit-s3rver-'))
  const bucket = 'rockit-origin'
  // s3rver knows this key id by default and checks nothing more; the secret is the proxy's.
  const accessKeyId = 'S3RVER'
  const secretAccessKey = 'rockit-s3-secret-for-tests'
  const store = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket }],
  })
  const { port } = await store.run()
  const upstream = { host: '127.0.0.1', port }
  const credentials = { [accessKeyId]: secretAccessKey }

  const account = { keyName: 'rockit-upload', key: 'ns-key-for-tests-only', cpCode: '123456' }
  const servers: RunningServer[] = [
    await startSigV4Proxy({ upstream, credentials }),
    await startSigV4Proxy({ upstream, credentials, stripRange: true }),
    await startNetStorageReceiver(account),
  ]

  project.provide('origins', {
    s3: servers[0].url,
    s3NoRange: servers[1].url,
    bucket,
    accessKeyId,
    secretAccessKey,
    netstorage: servers[2].url,
    ...account,
    closed: `http://127.0.0.1:${await closedPort()}`,
  })

  return async () => {
    for (const server of servers) await server.close()
    await store.close()
    rmSync(directory, { recursive: true, force: true })
  }
}
