import { createHash } from 'node:crypto'
import fs from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { packBuild } from '../../cli/commands/build-pack'
import { httpImageSource } from '../../cli/commands/image-source'
import { streamImage } from '../../cli/commands/image-stream'
import { verifyRebuild } from '../../cli/commands/image-verify'
import { main } from '../../cli/rockit'
import { encodeImageHeader } from '../../src/engine/dxf'
import { writeImage } from '../../src/engine/dxf-stream'
import { collect, readTree, rng, scanAll, tempDir, writeBuildTree } from './tar-fixtures'

const BLOCK = 4096
const TRACE_KEY = 'trace-key-of-game'
let work: string
let buildDir: string
let tarPath: string
let image: Uint8Array
let server: Server
let base: string
/** What the fake depot serves and how: `ignoreRange` answers 200 with the whole file. */
const depot = {
  bytes: new Uint8Array(0) as Uint8Array,
  ignoreRange: false,
  requests: [] as string[],
}

/** A launcher endpoint and a depot that answer like the service (one byte range, 206). */
function serve(
  request: import('node:http').IncomingMessage,
  response: import('node:http').ServerResponse,
) {
  const url = new URL(request.url ?? '/', base)
  if (url.pathname === '/client/v1/apps/acme/game') {
    const ok =
      request.headers['x-rockit-orgname'] === 'acme' &&
      request.headers['x-rockit-appname'] === 'game' &&
      request.headers['x-rockit-trace-key'] === TRACE_KEY
    response.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' })
    const sha256 = createHash('sha256').update(depot.bytes).digest('hex')
    const answer = ok
      ? {
          status: 'success',
          message: 'current image',
          iCurBuild: 1,
          buildName: 'build-0001',
          dxfName: 'dxf-1',
          image: { url: `${base}/depot/image.dxf`, sizeBytes: depot.bytes.length, sha256 },
          profile: { url: `${base}/depot/profile.json` },
          origins: [],
        }
      : { status: 'error', code: 'unauthenticated', message: 'trace key is invalid for this app' }
    response.end(JSON.stringify(answer))
    return
  }
  if (url.pathname !== '/depot/image.dxf') {
    response.writeHead(404).end()
    return
  }
  const range = request.headers.range?.match(/^bytes=(\d+)-(\d+)$/)
  depot.requests.push(request.headers.range ?? 'whole')
  if (!range || depot.ignoreRange) {
    response.writeHead(200, { 'content-length': depot.bytes.length, etag: '"v1"' })
    response.end(depot.bytes)
    return
  }
  const first = Number(range[1])
  const last = Math.min(Number(range[2]), depot.bytes.length - 1)
  response.writeHead(206, {
    'content-range': `bytes ${first}-${last}/${depot.bytes.length}`,
    'content-length': last - first + 1,
    etag: '"v1"',
  })
  response.end(depot.bytes.subarray(first, last + 1))
}

beforeAll(async () => {
  work = fs.realpathSync(tempDir('cli-image'))
  buildDir = path.join(work, 'game')
  writeBuildTree(buildDir, BLOCK)
  tarPath = path.join(work, 'game.tar')
  await packBuild({ dir: buildDir, out: tarPath })
  const tar = new Uint8Array(fs.readFileSync(tarPath))
  const scan = await scanAll(tar, BLOCK)

  // An image in a shuffled order, made the way mkraw makes one: header, then blocks by slot.
  const random = rng(7)
  const order = Uint32Array.from({ length: scan.blocks.length }, (_, i) => i)
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[order[i], order[j]] = [order[j], order[i]]
  }
  const headerBytes = encodeImageHeader({
    blockSize: BLOCK,
    files: scan.files,
    blockHashes: scan.blocks.map((block) => block.hash),
    order,
  })
  image = await collect(
    writeImage(headerBytes, async (block) => {
      const { tarOffset, length } = scan.blocks[block]
      return tar.slice(tarOffset, tarOffset + length)
    }),
  )

  server = createServer(serve)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve))
  fs.rmSync(work, { recursive: true, force: true })
})

beforeEach(() => {
  depot.bytes = image
  depot.ignoreRange = false
  depot.requests = []
})

describe('streaming an image like a launcher', () => {
  it('reads the header in two ranges, then chunks, and rebuilds the build exactly', async () => {
    const out = path.join(work, 'out-stream')
    const chunkBytes = 10_000
    const streamed = await streamImage({
      source: httpImageSource(`${base}/depot/image.dxf`),
      outDir: out,
      chunkBytes,
    })

    const headerLength = streamed.header.headerLength
    expect(depot.requests[0]).toBe('bytes=0-63')
    expect(depot.requests[1]).toBe(`bytes=64-${headerLength - 1}`)
    const dataRequests = Math.ceil((image.length - headerLength) / chunkBytes)
    expect(depot.requests).toHaveLength(2 + dataRequests)
    expect(depot.requests[2]).toBe(`bytes=${headerLength}-${headerLength + chunkBytes - 1}`)
    expect(streamed.sha256).toBe(createHash('sha256').update(image).digest('hex'))

    const rebuilt = readTree(out)
    const original = readTree(buildDir)
    expect([...rebuilt.keys()].sort()).toEqual([...original.keys()].sort())
    for (const [entry, expected] of original) {
      const got = rebuilt.get(entry)!
      expect(got.kind, entry).toBe(expected.kind)
      expect(got.bytes?.equals(expected.bytes ?? Buffer.alloc(0)) ?? true, entry).toBe(true)
      expect(got.target, entry).toBe(expected.target)
      if (expected.kind === 'file') expect(got.mode, entry).toBe(expected.mode)
    }

    const againstFolder = await verifyRebuild(out, streamed.header.files, buildDir, BLOCK)
    const againstTar = await verifyRebuild(out, streamed.header.files, tarPath, BLOCK)
    expect(againstTar).toEqual(againstFolder)
    expect(againstTar.files).toBe(streamed.files)
    expect(againstTar.symlinks).toBe(1)
  })

  it('refuses a block whose bytes do not match its hash', async () => {
    const corrupt = image.slice()
    corrupt[corrupt.length - 10] ^= 0xff
    depot.bytes = corrupt
    await expect(
      streamImage({
        source: httpImageSource(`${base}/depot/image.dxf`),
        outDir: path.join(work, 'bad'),
      }),
    ).rejects.toThrow(/does not match its hash/)
  })

  it('says so when the origin ignores Range requests', async () => {
    depot.ignoreRange = true
    await expect(
      streamImage({
        source: httpImageSource(`${base}/depot/image.dxf`),
        outDir: path.join(work, 'x'),
      }),
    ).rejects.toThrow(/ignored the Range request/)
  })

  it('finds a changed byte when comparing with the build', async () => {
    const out = path.join(work, 'out-changed')
    const streamed = await streamImage({
      source: httpImageSource(`${base}/depot/image.dxf`),
      outDir: out,
    })
    const victim = path.join(out, 'data/big.pak')
    const bytes = fs.readFileSync(victim)
    bytes[5000] ^= 1
    fs.writeFileSync(victim, bytes)
    await expect(verifyRebuild(out, streamed.header.files, tarPath, BLOCK)).rejects.toThrow(
      'data/big.pak differs from the build at byte 5000',
    )
  })
})

describe('rockit image fetch', () => {
  it('asks the service for the image by trace key and checks it against the tar', async () => {
    const out = path.join(work, 'out-cli')
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    const args = ['--url', base, '--org', 'acme', '--app', 'game', '--trace-key', TRACE_KEY]
    const code = await main(['image', 'fetch', ...args, '--out', out, '--verify-against', tarPath])
    const text = stderr.mock.calls.map((call) => String(call[0])).join('')
    stderr.mockRestore()

    expect(text).toContain('dxf-1 (build build-0001)')
    expect(text).toMatch(/identical to .*game\.tar: \d+ files/)
    expect(code).toBe(0)
    expect(fs.readFileSync(path.join(out, 'data/big.pak'))).toEqual(
      fs.readFileSync(path.join(buildDir, 'data/big.pak')),
    )
  })

  it('turns a refused trace key into advice', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    const args = ['--url', base, '--org', 'acme', '--app', 'game', '--trace-key', 'wrong']
    const code = await main(['image', 'fetch', ...args, '--out', path.join(work, 'nope')])
    const text = stderr.mock.calls.map((call) => String(call[0])).join('')
    stderr.mockRestore()

    expect(code).toBe(1)
    expect(text).toContain('401 unauthenticated: trace key is invalid for this app')
    expect(text).toContain('check ROCKIT_TRACE_KEY')
  })

  it('tells how to start the service when nothing listens', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    const args = [
      '--url',
      'http://127.0.0.1:9',
      '--org',
      'acme',
      '--app',
      'game',
      '--trace-key',
      'k',
    ]
    const code = await main(['image', 'fetch', ...args, '--out', path.join(work, 'nope')])
    const text = stderr.mock.calls.map((call) => String(call[0])).join('')
    stderr.mockRestore()

    expect(code).toBe(1)
    expect(text).toContain('cannot reach the service at http://127.0.0.1:9')
    expect(text).toContain('npm start')
  })
})
