import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  renameSync,
  statSync,
  symlinkSync,
  writeFileSync
} from 'node:fs'
import * as path from 'node:path'
import { Worker } from 'node:worker_threads'
import { connectVerified } from '../../src/connection/connect.js'
import { pruneReleases, releaseDir, switchCurrent } from '../../src/engine/release.js'
import { SftpSession } from '../../src/engine/session.js'
import { TransferError } from '../../src/errors.js'
import { makeReleaseId } from '../../src/plans/release-id.js'
import { startSshd, type Sshd } from '../support/sshd.js'
import { sshdEndpoint } from '../support/endpoint.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

/** Release IDs one minute apart, oldest first. */
const ids = (count: number): string[] =>
  Array.from({ length: count }, (_, i) =>
    makeReleaseId(new Date(Date.UTC(2026, 10, 25, 16, i)), `abc${i}def0123`)
  )

/** Writes a release straight to disk: the sshd serves this machine's file system. */
function writeRelease(target: string, id: string): void {
  mkdirSync(releaseDir(target, id), { recursive: true })
  writeFileSync(path.join(releaseDir(target, id), 'index.html'), id)
}

const leftovers = (dir: string): string[] => readdirSync(dir).filter(n => n.endsWith('.sftp-part'))

/**
 * Reads `current/index.html` on another thread in a loop without yielding, so it runs truly in
 * parallel with the server's renames; misses counts every read that found no file.
 */
const READER = `
const { workerData, parentPort } = require('node:worker_threads')
const fs = require('node:fs')
const stop = new Int32Array(workerData.stop)
let reads = 0
const misses = []
const seen = new Set()
while (Atomics.load(stop, 0) === 0) {
  try {
    seen.add(fs.readFileSync(workerData.file, 'utf8'))
    reads++
    Atomics.store(stop, 1, Math.min(reads, 2 ** 30))
  } catch (err) {
    misses.push(err.code)
  }
}
parentPort.postMessage({ reads, misses: misses.slice(0, 10), missCount: misses.length, seen: [...seen] })
`

interface ReaderResult {
  reads: number
  missCount: number
  misses: string[]
  seen: string[]
}

/** Resolves once the thread has read `count` times (a loaded machine may start it late). */
async function threadReads(stop: SharedArrayBuffer, count: number): Promise<void> {
  const deadline = Date.now() + 10_000
  while (Atomics.load(new Int32Array(stop), 1) < count && Date.now() < deadline) {
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

function startThreadReader(file: string): {
  started: Promise<void>
  stop: () => Promise<ReaderResult>
} {
  const stop = new SharedArrayBuffer(8)
  const worker = new Worker(READER, { eval: true, workerData: { file, stop } })
  const result = new Promise<ReaderResult>((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  return {
    started: threadReads(stop, 1),
    stop: async () => {
      await threadReads(stop, 101)
      Atomics.store(new Int32Array(stop), 0, 1)
      const out = await result
      await worker.terminate()
      return out
    }
  }
}

/** The same check on the test's own event loop, between the client's SFTP round trips. */
function startLoopReader(file: string): () => Promise<{ reads: number; misses: string[] }> {
  let stopped = false
  const misses: string[] = []
  let reads = 0
  const loop = (async () => {
    while (!stopped) {
      try {
        statSync(file)
        reads++
      } catch (err) {
        misses.push(String((err as NodeJS.ErrnoException).code))
      }
      await new Promise(resolve => setImmediate(resolve))
    }
  })()
  return async () => {
    stopped = true
    await loop
    return { reads, misses }
  }
}

describe('atomic releases against OpenSSH', () => {
  let sshd: Sshd
  let session: SftpSession
  let root: string

  beforeAll(async () => {
    sshd = await startSshd({ hostKeyTypes: ['ed25519'] })
    root = makeTempDir('releases-')
    const endpoint = sshdEndpoint(sshd)
    const connection = await connectVerified(endpoint, { timeoutMs: 10_000, retries: 0 })
    session = await SftpSession.open(connection, 4, 60_000)
  })

  afterAll(async () => {
    session?.close()
    await sshd?.stop()
    removeTempDir(root)
  })

  test('four successive releases: current is a relative link to the newest', async () => {
    const target = path.join(root, 'four')
    const [first, ...rest] = ids(4)
    // The first release goes through SFTP, as the action will upload it.
    for (const dir of [target, path.join(target, 'releases'), releaseDir(target, first)]) {
      await session.main.mkdir(dir)
    }
    const handle = await session.main.open(path.join(releaseDir(target, first), 'index.html'), 'w')
    await session.main.write(handle, Buffer.from(first), 0)
    await session.main.close(handle)
    rest.forEach(id => writeRelease(target, id))

    const previous: Array<string | undefined> = []
    for (const id of [first, ...rest]) {
      previous.push((await switchCurrent(session, target, id)).previous)
      expect(readFileSync(path.join(target, 'current', 'index.html'), 'utf8')).toBe(id)
    }

    const current = path.join(target, 'current')
    expect(lstatSync(current).isSymbolicLink()).toBe(true)
    expect(readlinkSync(current)).toBe(`releases/${rest[2]}`)
    expect(previous).toEqual([
      undefined,
      ...[first, ...rest.slice(0, 2)].map(id => `releases/${id}`)
    ])
    expect(leftovers(target)).toEqual([])
    // The link is relative, so the whole tree can move.
    const moved = `${target}-moved`
    renameSync(target, moved)
    expect(readFileSync(path.join(moved, 'current', 'index.html'), 'utf8')).toBe(rest[2])
  })

  test('a reader following current never finds it missing during 20 switches', async () => {
    const target = path.join(root, 'switching')
    const [a, b] = ids(2)
    writeRelease(target, a)
    writeRelease(target, b)
    await switchCurrent(session, target, a)
    expect(session.main.hasPosixRename).toBe(true)

    const file = path.join(target, 'current', 'index.html')
    const reader = startThreadReader(file)
    await reader.started
    const stopLoop = startLoopReader(file)
    for (let i = 1; i <= 20; i++) await switchCurrent(session, target, i % 2 ? b : a)
    const loop = await stopLoop()
    const thread = await reader.stop()

    expect(loop.misses).toEqual([])
    expect(loop.reads).toBeGreaterThan(20)
    expect(thread.misses).toEqual([])
    expect(thread.missCount).toBe(0)
    expect(thread.reads).toBeGreaterThan(100)
    // Proof the reader overlapped the switches rather than running before or after them.
    expect(thread.seen.sort()).toEqual([a, b])
    expect(readlinkSync(path.join(target, 'current'))).toBe(`releases/${a}`)
  })

  test('pruning keeps the newest, the current one, and anything that is not a release', async () => {
    const target = path.join(root, 'prune')
    const all = ids(5)
    all.forEach(id => writeRelease(target, id))
    mkdirSync(path.join(target, 'releases', '.upload.1234.sftp-part'))
    mkdirSync(path.join(target, 'releases', 'not a release'))
    // A plain file sorts above every timestamp: it must not take one of the places kept.
    writeFileSync(path.join(target, 'releases', 'zz-notes.txt'), 'notes')
    await switchCurrent(session, target, all[4])

    const removed = await pruneReleases(session, target, 2, all[4])
    expect(removed).toEqual([all[2], all[1], all[0]])
    expect(readdirSync(path.join(target, 'releases')).sort()).toEqual(
      ['.upload.1234.sftp-part', 'not a release', 'zz-notes.txt', all[3], all[4]].sort()
    )

    // After a rollback the live release is kept even though it is not among the newest.
    writeRelease(target, all[0])
    writeRelease(target, all[1])
    await switchCurrent(session, target, all[0])
    expect(await pruneReleases(session, target, 1, all[0])).toEqual([all[3], all[1]])
    expect(readdirSync(path.join(target, 'releases')).filter(n => n.startsWith('2'))).toEqual(
      [all[0], all[4]].sort()
    )
    expect(readFileSync(path.join(target, 'current', 'index.html'), 'utf8')).toBe(all[0])
  })

  test('links inside an old release are removed without touching what they point at', async () => {
    const target = path.join(root, 'links')
    const outside = path.join(root, 'outside')
    mkdirSync(path.join(outside, 'sub'), { recursive: true })
    writeFileSync(path.join(outside, 'precious.txt'), 'keep me')
    writeFileSync(path.join(outside, 'sub', 'deep.txt'), 'keep me too')
    const [old, live] = ids(2)
    writeRelease(target, old)
    writeRelease(target, live)
    const oldDir = releaseDir(target, old)
    mkdirSync(path.join(oldDir, 'a', 'b'), { recursive: true })
    writeFileSync(path.join(oldDir, 'a', 'b', 'file.txt'), 'x')
    symlinkSync(outside, path.join(oldDir, 'to-outside'))
    symlinkSync('../../../../outside', path.join(oldDir, 'a', 'relative-outside'))
    symlinkSync(path.join(outside, 'precious.txt'), path.join(oldDir, 'a', 'b', 'file-link'))
    symlinkSync(path.join(root, 'nowhere'), path.join(oldDir, 'dangling'))
    await switchCurrent(session, target, live)

    expect(await pruneReleases(session, target, 1, live)).toEqual([old])
    expect(existsSync(oldDir)).toBe(false)
    expect(readFileSync(path.join(outside, 'precious.txt'), 'utf8')).toBe('keep me')
    expect(readFileSync(path.join(outside, 'sub', 'deep.txt'), 'utf8')).toBe('keep me too')
  })

  test('a release that is itself a link is unlinked, not followed', async () => {
    const target = path.join(root, 'linked-release')
    const outside = path.join(root, 'outside-release')
    mkdirSync(outside)
    writeFileSync(path.join(outside, 'index.html'), 'not ours')
    const [old, live] = ids(2)
    writeRelease(target, live)
    symlinkSync(outside, releaseDir(target, old))
    await switchCurrent(session, target, live)

    expect(await pruneReleases(session, target, 1, live)).toEqual([old])
    expect(readFileSync(path.join(outside, 'index.html'), 'utf8')).toBe('not ours')
  })

  test('a real directory named current is refused and left intact', async () => {
    const target = path.join(root, 'real-dir')
    const [id] = ids(1)
    writeRelease(target, id)
    mkdirSync(path.join(target, 'current'))
    writeFileSync(path.join(target, 'current', 'index.html'), 'hand-made')

    const attempt = switchCurrent(session, target, id)
    await expect(attempt).rejects.toBeInstanceOf(TransferError)
    await expect(attempt).rejects.toThrow(/is a real directory, not a symbolic link/)
    expect(lstatSync(path.join(target, 'current')).isDirectory()).toBe(true)
    expect(readFileSync(path.join(target, 'current', 'index.html'), 'utf8')).toBe('hand-made')
    expect(leftovers(target)).toEqual([])
  })

  test('a file named current is refused and left intact', async () => {
    const target = path.join(root, 'real-file')
    const [id] = ids(1)
    writeRelease(target, id)
    writeFileSync(path.join(target, 'current'), 'not a link')

    await expect(switchCurrent(session, target, id)).rejects.toThrow(/is a file, not a symbolic/)
    expect(readFileSync(path.join(target, 'current'), 'utf8')).toBe('not a link')
    expect(leftovers(target)).toEqual([])
  })

  test('switching to a release that does not exist changes nothing', async () => {
    const target = path.join(root, 'missing')
    const [id, absent] = ids(2)
    writeRelease(target, id)
    await switchCurrent(session, target, id)

    await expect(switchCurrent(session, target, absent)).rejects.toThrow(/is not a directory/)
    expect(readlinkSync(path.join(target, 'current'))).toBe(`releases/${id}`)
    expect(leftovers(target)).toEqual([])
  })
})
