import { createHash, hash as oneShot } from 'node:crypto'
import { closeSync, createReadStream, openSync, readSync } from 'node:fs'
import { Worker } from 'node:worker_threads'
import { reapplyHeapFlags } from '../heap.js'
import pLimit from 'p-limit'
import type { LocalFile } from './local-files.js'

/** Big files hashed at once: the disk is faster than the network. */
const HASH_CONCURRENCY = 8

/**
 * Up to this size a file is read synchronously: nothing else runs before the connection opens,
 * and an asynchronous read costs four thread-pool round trips (10,000 small files: 90 ms
 * instead of 600 ms).
 */
const READ_WHOLE_MAX = 1024 * 1024

/**
 * One buffer for every small file: a fresh buffer per file (readFileSync) lives outside the
 * JavaScript heap, so the collector rarely runs for it: an unchanged re-deploy of 10,000 files
 * peaked at 157 MiB with them, 117 MiB without.
 */
const shared = Buffer.allocUnsafe(READ_WHOLE_MAX)

/**
 * Small files hashed between two turns of the event loop: hashing runs while the connection is
 * made and the target listed, and those need the loop now and then (a turn's worth is a few ms).
 */
const FILES_PER_TURN = 256

/**
 * From this many files on, they are hashed on a second thread: 50,000 files cost about 0.9 s of
 * CPU in system calls and hashing, which on one thread delayed the listing and planning that
 * share it. A few thousand hash here while the connection waits for the server (2000 files:
 * about 50 ms), sooner than a thread starts on a busy machine.
 */
export const WORKER_MIN_FILES = 5000

/**
 * The hashing thread, as a script (the bundle is one file, so there is no separate module to
 * start it from). It hashes the files in order, exactly as hashSmallFile and a stream would,
 * and posts every digest in one buffer; a file that cannot be read ends it with that error.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const fs = require('node:fs')
const crypto = require('node:crypto')
const { paths, readWholeMax } = workerData
const buffer = Buffer.allocUnsafe(readWholeMax)
const digests = Buffer.alloc(32 * paths.length)
let index = 0
try {
  for (; index < paths.length; index++) {
    const fd = fs.openSync(paths[index], 'r')
    try {
      const first = fs.readSync(fd, buffer, 0, buffer.length, null)
      if (first < buffer.length && crypto.hash) {
        crypto.hash('sha256', buffer.subarray(0, first), 'buffer').copy(digests, 32 * index)
        continue
      }
      const hash = crypto.createHash('sha256').update(buffer.subarray(0, first))
      for (let n; (n = fs.readSync(fd, buffer, 0, buffer.length, null)) > 0;) {
        hash.update(buffer.subarray(0, n))
      }
      hash.digest().copy(digests, 32 * index)
    } finally {
      fs.closeSync(fd)
    }
  }
  parentPort.postMessage({ digests }, [digests.buffer])
} catch (err) {
  parentPort.postMessage({ failed: { message: String(err && err.message), code: err && err.code, index } })
}
`

/** What the hashing thread posts. */
interface WorkerAnswer {
  digests?: Uint8Array
  failed?: { message: string; code?: string; index: number }
}

/** SHA-256 (hex) of every local file: on a second thread for many files, else on this one. */
export async function hashLocalFiles(
  files: LocalFile[],
  onThread = files.length >= WORKER_MIN_FILES
): Promise<Map<string, string>> {
  if (onThread) {
    const hashed = await hashOnThread(files)
    if (hashed) return hashed
  }
  return hashHere(files)
}

/**
 * Hashes on a worker thread. Resolves undefined when no thread could be started or it died
 * without an answer (the caller then hashes on this thread); a file that cannot be read
 * rejects, as it would here.
 */
export function hashOnThread(files: LocalFile[]): Promise<Map<string, string> | undefined> {
  return new Promise((resolve, reject) => {
    let worker: Worker
    try {
      worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { paths: files.map(f => f.path), readWholeMax: READ_WHOLE_MAX }
      })
    } catch {
      return resolve(undefined)
    }
    worker.once('online', () => reapplyHeapFlags())
    let settled = false
    worker.once('message', ({ digests, failed }: WorkerAnswer) => {
      settled = true
      if (failed) {
        const err: Error & { code?: string } = new Error(failed.message)
        if (failed.code) err.code = failed.code
        return reject(err)
      }
      const d = digests as Uint8Array
      const bytes = Buffer.from(d.buffer, d.byteOffset, d.byteLength)
      const hashes = new Map<string, string>()
      files.forEach((f, i) => hashes.set(f.rel, bytes.toString('hex', 32 * i, 32 * i + 32)))
      resolve(hashes)
    })
    worker.once('error', () => {
      if (!settled) resolve(undefined)
      settled = true
    })
    worker.once('exit', () => {
      if (!settled) resolve(undefined)
      settled = true
    })
  })
}

async function hashHere(files: LocalFile[]): Promise<Map<string, string>> {
  const hashes = new Map<string, string>()
  const limit = pLimit(HASH_CONCURRENCY)
  const big: Array<Promise<void>> = []
  let failure: unknown
  try {
    let inTurn = 0
    for (const f of files) {
      if (f.size <= READ_WHOLE_MAX) hashes.set(f.rel, hashSmallFile(f.path))
      else big.push(limit(async () => void hashes.set(f.rel, await hashBigFile(f.path))))
      if (++inTurn < FILES_PER_TURN) continue
      inTurn = 0
      await new Promise(resolve => setImmediate(resolve))
    }
  } catch (err) {
    failure = err
  }
  // A small file that vanished throws above; the big ones already started are still awaited,
  // or a later failure among them would be a rejection nobody handles.
  const settled = await Promise.allSettled(big)
  const failed = settled.find(r => r.status === 'rejected')
  if (failure !== undefined) throw failure
  if (failed) throw failed.reason
  return hashes
}

/** SHA-256 (hex) of one local file of about `size` bytes. */
export async function hashFile(file: string, size: number): Promise<string> {
  return size <= READ_WHOLE_MAX ? hashSmallFile(file) : hashBigFile(file)
}

/**
 * Reads to the end, whatever the listing said: a file that grew is hashed as it is now. A read
 * that does not fill the buffer reached the end of a regular file, so most files take one read
 * and one one-shot hash (no hash object per file: 50,000 files spent a third of their hashing
 * time on those and on the read that returns nothing).
 */
function hashSmallFile(file: string): string {
  const fd = openSync(file, 'r')
  try {
    const first = readSync(fd, shared, 0, shared.length, null)
    if (first < shared.length) return oneShot('sha256', shared.subarray(0, first), 'hex')
    const hash = createHash('sha256').update(shared)
    for (let n; (n = readSync(fd, shared, 0, shared.length, null)) > 0;) {
      hash.update(shared.subarray(0, n))
    }
    return hash.digest('hex')
  } finally {
    closeSync(fd)
  }
}

function hashBigFile(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256')
    createReadStream(file)
      .on('data', chunk => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')))
  })
}
