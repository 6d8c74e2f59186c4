import fs from 'node:fs'
import path from 'node:path'
import { deflateSync, gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { crc32 } from '../../src/engine/block-hash'
import {
  type ScanCheckpoint,
  type ScannedBlock,
  type ScannedFile,
  TarScanner,
} from '../../src/engine/tar-scan'
import {
  craftTar,
  LONG_NAME,
  PREFIX_NAME,
  readTree,
  referenceHash,
  rng,
  run,
  scanAll,
  scanError,
  seededBytes,
  setChecksum,
  TAR,
  tarDir,
  tarRecord,
  tempDir,
  UNICODE_NAME,
  writeBuildTree,
} from './tar-fixtures'

const BLOCK = 4096
let workDir: string

beforeAll(() => {
  workDir = tempDir('tar')
})
afterAll(() => {
  fs.rmSync(workDir, { recursive: true, force: true })
})

function buildDir(name: string, portableOnly = false) {
  const dir = path.join(workDir, name)
  fs.mkdirSync(dir)
  writeBuildTree(dir, BLOCK, portableOnly)
  return dir
}

/** Checks a scan against the folder the tar was made from, entry by entry and block by block. */
function expectScanMatchesDisk(
  dir: string,
  tar: Uint8Array,
  files: ScannedFile[],
  blocks: ScannedBlock[],
) {
  const disk = readTree(dir)
  const byPath = new Map(files.map((file) => [file.path, file]))
  expect([...byPath.keys()].sort()).toEqual([...disk.keys()].sort())
  expect(files.map((file) => file.index)).toEqual(files.map((_, i) => i))

  let nextBlock = 0
  for (const file of files) {
    const onDisk = disk.get(file.path)!
    expect(file.firstBlock, file.path).toBe(nextBlock)
    expect(file.mtimeSec, file.path).toBe(onDisk.mtimeSec)
    if (onDisk.kind === 'symlink') expect(file.linkTarget).toBe(onDisk.target)
    if (file.kind === 'symlink' && onDisk.kind === 'file') {
      // A hard link: it must point at a regular file of the build with the same bytes.
      const target = path.posix.join(path.posix.dirname(file.path), file.linkTarget!)
      expect(disk.get(target)?.bytes?.equals(onDisk.bytes!)).toBe(true)
      expect(byPath.get(target)?.kind).toBe('file')
      continue
    }
    expect(file.kind, file.path).toBe(onDisk.kind)
    if (onDisk.kind !== 'symlink') expect(file.mode, file.path).toBe(onDisk.mode)
    if (file.kind !== 'file') {
      expect(file.blockCount).toBe(0)
      continue
    }
    const bytes = onDisk.bytes!
    expect(file.size).toBe(bytes.length)
    expect(Buffer.from(tar.subarray(file.tarDataOffset, file.tarDataOffset + file.size))).toEqual(
      bytes,
    )
    expect(file.blockCount).toBe(Math.ceil(bytes.length / BLOCK))
    for (let k = 0; k < file.blockCount; k++) {
      const block = blocks[file.firstBlock + k]
      const piece = bytes.subarray(k * BLOCK, Math.min(bytes.length, (k + 1) * BLOCK))
      expect(block).toEqual({
        index: file.firstBlock + k,
        fileIndex: file.index,
        fileOffset: k * BLOCK,
        length: piece.length,
        tarOffset: file.tarDataOffset + k * BLOCK,
        hash: referenceHash(piece),
      })
    }
    nextBlock += file.blockCount
  }
  expect(blocks.length).toBe(nextBlock)
}

describe('scanning tars made by GNU tar', () => {
  for (const format of ['ustar', 'pax', 'gnu'] as const) {
    it(`reads a ${format} tar entry for entry, at any chunk size`, async () => {
      const dir = buildDir(format, format === 'ustar')
      const tar = tarDir(dir, format)
      for (const chunkSize of [tar.length, 65536, 4096, 511, 1]) {
        const { files, blocks, totals, warnings } = await scanAll(tar, BLOCK, chunkSize)
        expectScanMatchesDisk(dir, tar, files, blocks)
        const regular = files.filter((file) => file.kind === 'file')
        expect(totals).toEqual({
          files: regular.length,
          entries: files.length,
          blocks: blocks.length,
          sizeBytes: regular.reduce((sum, file) => sum + file.size, 0),
        })
        expect(warnings).toEqual([])
      }
    })
  }

  it('keeps long and non-ASCII names, normalised, and cuts blocks at file ends', async () => {
    const dir = buildDir('names')
    const { files, blocks } = await scanAll(tarDir(dir, 'pax'), BLOCK)
    const paths = files.map((file) => file.path)
    expect(paths).toContain(LONG_NAME)
    expect(paths).toContain(UNICODE_NAME)
    expect(paths).toContain(PREFIX_NAME)
    expect(paths).toContain('data/emptydir')
    expect(paths.some((p) => p.startsWith('.') || p.endsWith('/') || p === '')).toBe(false)

    const file = (p: string) => files.find((f) => f.path === p)!
    expect(file('empty.dat')).toMatchObject({ kind: 'file', size: 0, blockCount: 0 })
    expect(file('data/exact.bin').blockCount).toBe(1)
    expect(blocks[file('data/exact.bin').firstBlock].length).toBe(BLOCK)
    const plus1 = file('data/plus1.bin')
    expect(blocks.slice(plus1.firstBlock, plus1.firstBlock + 2).map((b) => b.length)).toEqual([
      BLOCK,
      1,
    ])
    expect(file('bin/latest.pak')).toMatchObject({ kind: 'symlink', linkTarget: '../data/big.pak' })
    expect(file('bin/run.sh').mode).toBe(0o755)
    // GNU tar stores the second name of a hard-linked file as a link to the first.
    expect(file('data/big.pak')).toMatchObject({ kind: 'symlink', linkTarget: 'big-copy.pak' })
  })

  it('leaves out a fifo with a warning', async () => {
    const dir = path.join(workDir, 'fifo')
    fs.mkdirSync(dir)
    fs.writeFileSync(path.join(dir, 'a.txt'), 'a')
    run('/usr/bin/mkfifo', [path.join(dir, 'pipe')])
    const { files, warnings } = await scanAll(tarDir(dir, 'pax'), BLOCK)
    expect(files.map((file) => file.path)).toEqual(['a.txt'])
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatchObject({ code: 'skippedEntry', path: './pipe' })
  })

  it('reads a size in GNU base-256', async () => {
    const data = seededBytes(9, 5000)
    const tar = craftTar([{ name: 'big.bin', data }])
    tar.fill(0, 124, 136)
    tar[124] = 0x80
    tar[134] = 5000 >> 8
    tar[135] = 5000 & 0xff
    setChecksum(tar.subarray(0, 512))
    const { files, blocks } = await scanAll(tar, BLOCK)
    expect(files[0]).toMatchObject({ path: 'big.bin', size: 5000, blockCount: 2 })
    expect(blocks[1].hash).toBe(referenceHash(data.subarray(BLOCK)))
  })
})

describe('resuming from checkpoints', () => {
  it('emits the same files and blocks as one scan for random chunkings and restarts', async () => {
    const dir = buildDir('resume')
    for (const format of ['pax', 'gnu'] as const) {
      const tar = tarDir(dir, format)
      const oneShot = await scanAll(tar, BLOCK, tar.length)
      for (let seed = 1; seed <= 25; seed++) {
        const random = rng(seed * 7919)
        const files: ScannedFile[] = []
        const blocks: ScannedBlock[] = []
        let scanner = new TarScanner({ blockSize: BLOCK })
        let at = 0
        let restarts = 0
        while (at < tar.length) {
          const size = random() < 0.3 ? 1 + Math.floor(random() * 600) : Math.floor(random() * 9000)
          const out = await scanner.push(tar.subarray(at, at + Math.max(1, size)))
          files.push(...out.files)
          blocks.push(...out.blocks)
          at += Math.max(1, size)
          if (random() < 0.3) {
            // A new queue step: only the JSON checkpoint survives.
            const json = JSON.stringify(scanner.checkpoint())
            expect(json.length, json).toBeLessThan(1000)
            const checkpoint = JSON.parse(json) as ScanCheckpoint
            expect(checkpoint.tarOffset).toBeLessThanOrEqual(at)
            scanner = new TarScanner({ blockSize: BLOCK, checkpoint })
            at = checkpoint.tarOffset
            restarts++
          }
        }
        expect(restarts, `seed ${seed}`).toBeGreaterThan(0)
        expect(scanner.finish(), `seed ${seed}`).toEqual(oneShot.totals)
        expect(scanner.done).toBe(true)
        expect(files, `seed ${seed}`).toEqual(oneShot.files)
        expect(blocks, `seed ${seed}`).toEqual(oneShot.blocks)
      }
    }
  })

  it('goes on in bounded steps that each start from the previous checkpoint', async () => {
    const dir = buildDir('steps')
    const tar = tarDir(dir, 'pax')
    const oneShot = await scanAll(tar, BLOCK)
    let checkpoint: ScanCheckpoint | undefined
    const blocks: ScannedBlock[] = []
    // A step must hold a whole block plus the headers before it, or it cannot move on.
    const STEP = BLOCK + 2048
    let steps = 0
    for (;;) {
      const scanner = new TarScanner({ blockSize: BLOCK, checkpoint })
      const from = checkpoint?.tarOffset ?? 0
      blocks.push(...(await scanner.push(tar.subarray(from, from + STEP))).blocks)
      steps++
      if (scanner.done || from + STEP >= tar.length) break
      checkpoint = scanner.checkpoint()
      expect(checkpoint.tarOffset).toBeGreaterThan(from)
    }
    expect(steps).toBeGreaterThan(5)
    expect(blocks).toEqual(oneShot.blocks)
  })
})

describe('refusing tars that are not builds', () => {
  it('names what a non-tar is', async () => {
    const dir = buildDir('nontar', true)
    const tar = tarDir(dir, 'ustar')
    const zipPath = path.join(workDir, 'build.zip')
    run('/usr/bin/zip', ['-qr', zipPath, '.'], dir)
    const cases: Array<[string, Uint8Array]> = [
      ['gzip', gzipSync(tar)],
      ['zip', fs.readFileSync(zipPath)],
      ['png', tinyPng()],
      ['text', new TextEncoder().encode('this is a readme, not a game build\n'.repeat(40))],
      ['text', new TextEncoder().encode('short\n')],
      ['empty', new Uint8Array(0)],
    ]
    for (const [type, bytes] of cases) {
      const error = await scanError(bytes)
      expect(error, type).toMatchObject({
        code: 'fileReadFailed',
        typeExpected: 'tar',
        typeDetected: type,
      })
    }
  })

  it('reports a tar cut short', async () => {
    const dir = buildDir('cut', true)
    const tar = tarDir(dir, 'ustar')
    const { files } = await scanAll(tar, BLOCK)
    const big = files.find((file) => file.path === 'data/big.pak')!
    const midData = await scanError(tar.subarray(0, big.tarDataOffset + 100))
    expect(midData).toMatchObject({ code: 'truncated', filename: 'data/big.pak' })
    const midHeader = await scanError(tar.subarray(0, big.tarDataOffset - 200))
    expect(midHeader).toMatchObject({ code: 'truncated' })
    const last = files[files.length - 1]
    const end = last.tarDataOffset + Math.ceil(last.size / 512) * 512
    expect(await scanError(tar.subarray(0, end))).toMatchObject({ code: 'truncated' })
    expect(await scanError(tar.subarray(0, end + 1024))).toBeUndefined()
  })

  it('refuses a header with a bad checksum', async () => {
    const dir = buildDir('checksum', true)
    const tar = tarDir(dir, 'ustar')
    const { files } = await scanAll(tar, BLOCK)
    const headerOffset = files[2].tarDataOffset - 512
    tar[headerOffset + 5] ^= 0x01
    expect(await scanError(tar)).toMatchObject({ code: 'badChecksum', offset: headerOffset })
  })

  it('refuses paths and links that leave the build', async () => {
    const root = path.join(workDir, 'escape')
    fs.mkdirSync(path.join(root, 'inner'), { recursive: true })
    fs.writeFileSync(path.join(root, 'outside.txt'), 'secret')
    fs.symlinkSync('../../outside.txt', path.join(root, 'inner', 'up'))
    fs.symlinkSync('/etc/passwd', path.join(root, 'inner', 'abs'))
    const tarOf = (args: string[], cwd: string) =>
      new Uint8Array(run(TAR, ['-P', '-cf', '-', ...args], cwd))
    const cases: Array<[string, Uint8Array]> = [
      ['../outside.txt', tarOf(['../outside.txt'], path.join(root, 'inner'))],
      [path.join(root, 'outside.txt'), tarOf([path.join(root, 'outside.txt')], root)],
      ['./up', tarOf(['./up'], path.join(root, 'inner'))],
      ['./abs', tarOf(['./abs'], path.join(root, 'inner'))],
      ['a/link', craftTar([{ name: 'a/link', type: '1', linkName: '../../x' }])],
      ['a/b/../../../x', craftTar([{ name: 'a/b/../../../x', data: seededBytes(1, 10) }])],
    ]
    for (const [filename, tar] of cases) {
      expect(await scanError(tar), filename).toMatchObject({ code: 'unsafePath', filename })
    }
    const inside = craftTar([
      { name: 'a/target', data: seededBytes(2, 10) },
      { name: 'a/b/link', type: '2', linkName: '../target' },
    ])
    expect((await scanAll(inside, BLOCK)).files[1]).toMatchObject({ linkTarget: '../target' })
  })
})

describe('performance', () => {
  it('scans 100,000 empty files built in memory', async () => {
    const records: Uint8Array[] = []
    for (let i = 0; i < 100_000; i++) {
      records.push(tarRecord({ name: `assets/${i % 100}/file-${i}.dat` }))
    }
    records.push(new Uint8Array(1024))
    const tar = new Uint8Array(Buffer.concat(records))
    const started = performance.now()
    const { files, blocks, totals } = await scanAll(tar, BLOCK, 1 << 20)
    const elapsedMs = performance.now() - started
    expect(files).toHaveLength(100_000)
    expect(files[99_999]).toMatchObject({ path: 'assets/99/file-99999.dat', index: 99_999 })
    expect(blocks).toHaveLength(0)
    expect(totals).toEqual({ files: 100_000, entries: 100_000, blocks: 0, sizeBytes: 0 })
    expect(elapsedMs).toBeLessThan(10_000)
  })
})

/** A real 1x1 PNG: signature, IHDR, IDAT, IEND with their CRCs. */
function tinyPng(): Uint8Array {
  const chunk = (type: string, data: Uint8Array) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data])
    const out = Buffer.alloc(body.length + 8)
    out.writeUInt32BE(data.length, 0)
    body.copy(out, 4)
    out.writeUInt32BE(crc32(body), body.length + 4)
    return out
  }
  const ihdr = Buffer.from([0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0])
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.from([0, 0]))),
    chunk('IEND', Buffer.alloc(0)),
  ])
}
