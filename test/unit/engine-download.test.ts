import { createHash, randomBytes } from 'node:crypto'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { Worker } from 'node:worker_threads'
import { requestBudget } from '../../src/engine/chunks.js'
import { downloadFiles } from '../../src/engine/download.js'
import { LocalPlaces } from '../../src/engine/local-places.js'
import { decideReadBack } from '../../src/engine/remote-hash.js'
import type { SftpSession } from '../../src/engine/session.js'
import type { SftpChannel } from '../../src/engine/sftp.js'
import { ConnectionError, TransferError } from '../../src/errors.js'
import type { RemoteFile } from '../../src/plans/remote-files.js'
import { localPathInside } from '../../src/plans/safe-names.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

const CHUNK = 64 * 1024
const SIZE = 64 * CHUNK
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex')

/** What one connection does: which read it never answers, and after how many reads it dies. */
interface Script {
  /** The offset of a read left unanswered until the connection dies. */
  hold?: number
  /** The connection dies once this many data reads were answered. */
  cutAfterReads?: number
}

/**
 * A connection to a server holding one file, answering reads a tick later, with two SFTP
 * channels. Dying rejects every waiting request, as Liveness does for a real session.
 */
function fakeSession(data: Buffer | Map<string, Buffer>, script: Script, server: string) {
  let dead = false
  let answered = 0
  const waiting = new Set<(err: Error) => void>()
  const lost = () => new ConnectionError('The connection was lost.', true)
  const die = () => {
    if (dead) return
    dead = true
    for (const reject of waiting) reject(lost())
    waiting.clear()
  }
  const call = <T>(answer: () => T, held = false): Promise<T> => {
    if (dead) return Promise.reject(lost())
    return new Promise<T>((resolve, reject) => {
      waiting.add(reject)
      if (held) return
      setImmediate(() => {
        if (!waiting.delete(reject)) return
        resolve(answer())
      })
    })
  }
  // With several files, each handle is the file's path.
  const read = (handle: Buffer, buffer: Buffer, length: number, position: number) =>
    call(() => {
      const src = data instanceof Map ? (data.get(handle.toString()) as Buffer) : data
      const n = src.copy(buffer, 0, position, Math.min(src.length, position + length))
      if (n > 0 && ++answered === script.cutAfterReads) setImmediate(die)
      return n
    }, position === script.hold)
  const close = () => call(() => undefined)
  const channel = {
    maxReadLen: CHUNK,
    maxWriteLen: CHUNK,
    maxOpenHandles: 64,
    processesInOrder: true,
    sharesConnectionWith: () => true,
    open: (p: string) => call(() => Buffer.from(data instanceof Map ? p : 'handle')),
    close,
    read,
    // Through the channel's own open, which a test may wrap.
    readWhole: (p: string, buffer: Buffer, length: number) =>
      channel.open(p, 'r').then(handle => {
        const got = read(handle, buffer, length, 0)
        return Promise.all([got, close()]).then(answers => answers[0])
      }),
    readdir: () => call(() => [])
  } as unknown as SftpChannel
  const channels = [channel, { ...channel } as unknown as SftpChannel]
  const session = {
    channels,
    main: channels[0],
    server,
    budget: requestBudget(),
    filesInFlight: 64,
    get dead() {
      return dead
    },
    fatal: undefined,
    kill: die,
    close: die,
    admit: <T>(_size: number, work: () => Promise<T>) => work(),
    lanesFor: (size: number) => (size > CHUNK ? channels : [channels[0]])
  }
  return session as unknown as SftpSession
}

describe('downloadFiles across dropped connections', () => {
  let target: string
  const data = randomBytes(SIZE)
  const file: RemoteFile = { path: '/srv/big.bin', rel: 'big.bin', size: SIZE, mtime: 0 }

  beforeEach(() => {
    target = makeTempDir('download-resume-')
  })
  afterEach(() => removeTempDir(target))

  const run = (
    scripts: Script[],
    options: { verifySha256?: boolean; between?: (attempt: number) => void } = {}
  ) => {
    let attempt = 0
    const server = `fake-${randomBytes(4).toString('hex')}`
    // With verify: sha256 the server's copy is read back (the fake has no exec channel).
    decideReadBack(server, 'no shell on the fake server')
    return downloadFiles(
      async () => {
        options.between?.(attempt)
        return fakeSession(data, scripts[attempt++] ?? {}, server)
      },
      target,
      [file],
      {
        concurrency: 4,
        retries: 3,
        onBytes: () => undefined,
        verifySha256: options.verifySha256 ?? false
      }
    )
  }

  it('keeps every byte when the first cut loses chunk 0 and the second, on a fresh file, chunk 1', async () => {
    // The first attempt writes chunks 1-10 but not chunk 0, so nothing is kept: the second
    // truncates and starts over, writes chunk 0 and chunks 2-10, and loses chunk 1. The third
    // resumes. Counting the first attempt's chunks in the second made it resume past chunk 1,
    // which then stayed zeros in a file of the right size: a silent corruption.
    const results = await run([
      { hold: 0, cutAfterReads: 10 },
      { hold: CHUNK, cutAfterReads: 10 }
    ])
    expect(results.map(r => r.status)).toEqual(['transferred'])
    const landed = readFileSync(path.join(target, 'big.bin'))
    expect(landed.length).toBe(SIZE)
    expect(sha256(landed)).toBe(sha256(data))
  }, 30_000)

  it('with verify: sha256, refuses a resumed file whose bytes on disk differ from those received', async () => {
    const results = await run([{ cutAfterReads: 10 }], {
      verifySha256: true,
      // Between the attempts, a byte of the part already written changes on disk: what the
      // resume trusts without reading it again.
      between: attempt => {
        if (attempt !== 1) return
        const temp = readdirSync(target).filter(n => n !== 'big.bin')
        expect(temp).toHaveLength(1)
        const at = path.join(target, temp[0])
        const bytes = readFileSync(at)
        expect(bytes.length).toBeGreaterThan(3 * CHUNK)
        bytes[3 * CHUNK] ^= 0xff
        writeFileSync(at, bytes)
      }
    })
    expect(results).toHaveLength(1)
    expect(results[0].status).toBe('failed')
    expect(results[0].error).toMatch(/did not hash on the runner as the bytes received/)
    expect(readdirSync(target)).toEqual([])
  }, 30_000)

  it('with verify: sha256, a resumed download that is whole passes the check', async () => {
    const results = await run([{ hold: 0, cutAfterReads: 10 }, { cutAfterReads: 20 }], {
      verifySha256: true
    })
    expect(results.map(r => r.status)).toEqual(['transferred'])
    expect(results[0].sha256).toBe(sha256(data))
    expect(sha256(readFileSync(path.join(target, 'big.bin')))).toBe(sha256(data))
  }, 30_000)
})

describe('downloadFiles and the folders files land in', () => {
  let target: string
  beforeEach(() => {
    target = makeTempDir('download-folders-')
  })
  afterEach(() => removeTempDir(target))

  it('makes every folder once the first file starts, not when each folder comes up', async () => {
    const data = Buffer.from('abc')
    const files: RemoteFile[] = ['a', 'b', 'c'].map(dir => ({
      path: `/srv/${dir}/f.txt`,
      rel: `${dir}/f.txt`,
      size: data.length,
      mtime: 0
    }))
    const session = fakeSession(data, {}, `fake-${randomBytes(4).toString('hex')}`)
    const channel = session.channels[0]
    const open = channel.open.bind(channel)
    let firstOpen: string[] | undefined
    // One file at a time: the first file's open waits (up to 5 s) until every folder exists.
    channel.open = async (p: string, mode: Parameters<SftpChannel['open']>[1]) => {
      if (!firstOpen) {
        for (let i = 0; i < 500 && readdirSync(target).length < 3; i++) {
          await new Promise(resolve => setTimeout(resolve, 10))
        }
        firstOpen = readdirSync(target).sort()
      }
      return open(p, mode)
    }
    session.channels[1] = channel
    const results = await downloadFiles(async () => session, target, files, {
      concurrency: 1,
      retries: 0,
      onBytes: () => undefined,
      verifySha256: false
    })
    expect(results.map(r => r.status)).toEqual(['transferred', 'transferred', 'transferred'])
    expect(firstOpen).toEqual(['a', 'b', 'c'])
    for (const dir of ['a', 'b', 'c']) {
      expect(readFileSync(path.join(target, dir, 'f.txt'), 'utf8')).toBe('abc')
    }
  }, 30_000)
})

describe('downloadFiles when the landing thread fails', () => {
  let target: string
  beforeEach(() => {
    target = makeTempDir('download-landing-')
  })
  afterEach(() => removeTempDir(target))

  it('stops with one clear error and leaves no half-written file', async () => {
    const data = Buffer.from('small file')
    const files: RemoteFile[] = Array.from({ length: 20 }, (_, i) => ({
      path: `/srv/f${i}.txt`,
      rel: `f${i}.txt`,
      size: data.length,
      mtime: 0
    }))
    // The thread writes half of its first file's temporary file, then dies.
    const dies = () =>
      new Worker(
        `const fs = require('node:fs')
        require('node:worker_threads').parentPort.on('message', batch => {
          fs.writeFileSync(batch.jobs[0].temp, 'small')
          process.exit(3)
        })`,
        { eval: true }
      )
    const session = fakeSession(data, {}, `fake-${randomBytes(4).toString('hex')}`)
    const download = downloadFiles(
      async () => session,
      target,
      files,
      { concurrency: 8, retries: 2, onBytes: () => undefined, verifySha256: false },
      dies
    )
    await expect(download).rejects.toThrow(TransferError)
    await expect(download).rejects.toThrow(/writes downloaded files on the runner stopped/)
    expect(readdirSync(target)).toEqual([])
  }, 30_000)

  it('also removes a big file kept for resuming when the thread ends the download', async () => {
    const big = randomBytes(SIZE)
    const files: RemoteFile[] = [
      { path: '/srv/big.bin', rel: 'big.bin', size: big.length, mtime: 0 },
      { path: '/srv/small.txt', rel: 'small.txt', size: 10, mtime: 0 }
    ]
    const dies = () =>
      new Worker(`require('node:worker_threads').parentPort.on('message', () => process.exit(3))`, {
        eval: true
      })
    // Every connection is cut after a few reads of the big file, whose temporary file is kept
    // for the next attempt; meanwhile the small file's landing stops the download.
    const server = `fake-${randomBytes(4).toString('hex')}`
    const served = new Map([
      ['/srv/big.bin', big],
      ['/srv/small.txt', Buffer.from('small file')]
    ])
    const download = downloadFiles(
      async () => fakeSession(served, { cutAfterReads: 3 }, server),
      target,
      files,
      { concurrency: 4, retries: 3, onBytes: () => undefined, verifySha256: false },
      dies
    )
    await expect(download).rejects.toThrow(/writes downloaded files on the runner stopped/)
    expect(readdirSync(target)).toEqual([])
  }, 30_000)
})

describe('LocalPlaces: where each downloaded file lands', () => {
  const target = path.join(path.sep, 'tmp', 'pull', '..', 'pull-target')
  const rels = [
    'a.txt',
    'dir/b.txt',
    'dir/sub/c.txt',
    'dir/sub/d.txt',
    'other/e.txt',
    '../escape.txt',
    'dir/../../escape.txt',
    'dir/..',
    'dir/.',
    'dir//f.txt',
    'dir/',
    '',
    'C:/x.txt',
    'dir/C:x',
    'dir/a\\b.txt',
    'dir/new\nline.txt',
    '/abs.txt'
  ]

  it('puts every file where localPathInside does, and refuses what it refuses', () => {
    const places = new LocalPlaces(target)
    // Twice: the second time from the folders already proven.
    for (const rel of [...rels, ...rels]) {
      expect([rel, places.of(rel)]).toEqual([rel, localPathInside(target, rel)])
    }
  })

  it('gives the folder of each file that lands, the same for the files beside it', () => {
    const places = new LocalPlaces(target)
    expect(places.folderOf('a.txt')).toBe(path.resolve(target))
    expect(places.folderOf('dir/sub/c.txt')).toBe(path.resolve(target, 'dir', 'sub'))
    expect(places.folderOf('dir/sub/d.txt')).toBe(path.resolve(target, 'dir', 'sub'))
    expect(places.folderOf('../x/y.txt')).toBeUndefined()
  })
})
