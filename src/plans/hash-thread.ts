import { Worker } from 'node:worker_threads'
import { reapplyHeapFlags, threadPrelude } from '../heap.js'
import type { LocalFile } from './local-files.js'

/**
 * Paths handed to the thread at a time while a walk goes on: a message per file would cost
 * more than its hashing, and a large batch would keep the thread waiting for the walk.
 */
const BATCH = 512

/**
 * The hashing thread, as a script (the bundle is one file, so there is no separate module to
 * start it from). It hashes the paths in the order they come, exactly as hashSmallFile and a
 * stream would, and counts the bytes it hashed: that is the file's size, so the walk need not stat
 * it. A file that cannot be read is noted and the rest still hashed: a path may come
 * from a walk before it is known whether the upload keeps it. `null` ends the list; the thread
 * then posts every digest in one buffer, with the failures, and ends.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const fs = require('node:fs')
const crypto = require('node:crypto')
const buffer = Buffer.allocUnsafe(workerData.readWholeMax)
const parts = []
const sizes = []
const failures = []
let index = 0
function hashInto(path, out, at) {
  const fd = fs.openSync(path, 'r')
  try {
    const first = fs.readSync(fd, buffer, 0, buffer.length, null)
    if (first < buffer.length && crypto.hash) {
      crypto.hash('sha256', buffer.subarray(0, first), 'buffer').copy(out, at)
      return first
    }
    const hash = crypto.createHash('sha256').update(buffer.subarray(0, first))
    let size = first
    for (let n; (n = fs.readSync(fd, buffer, 0, buffer.length, null)) > 0; size += n) {
      hash.update(buffer.subarray(0, n))
    }
    hash.digest().copy(out, at)
    return size
  } finally {
    fs.closeSync(fd)
  }
}
parentPort.on('message', paths => {
  if (paths === null) {
    const digests = new Uint8Array(32 * index)
    let at = 0
    for (const part of parts) {
      digests.set(part, at)
      at += part.length
    }
    const lengths = Float64Array.from(sizes)
    parentPort.postMessage({ digests, sizes: lengths, failures }, [digests.buffer, lengths.buffer])
    parentPort.close()
    return
  }
  const out = Buffer.alloc(32 * paths.length)
  for (let i = 0; i < paths.length; i++, index++) {
    try {
      sizes[index] = hashInto(paths[i], out, 32 * i)
    } catch (err) {
      sizes[index] = -1
      failures.push({ index, message: String(err && err.message), code: err && err.code })
    }
  }
  parts.push(out)
})
`

/** What the hashing thread posts. */
interface WorkerAnswer {
  digests: Uint8Array
  /** Bytes hashed, by the index a path was added at. */
  sizes: Float64Array
  failures: Array<{ index: number; message: string; code?: string }>
}

/**
 * A second thread hashing local files as they are named to it, so that hashing can start while
 * a walk is still finding them. Paths it was given but the upload does not keep are hashed for
 * nothing, and their failures ignored.
 */
export class HashThread {
  private readonly posted: string[] = []
  private batch: string[] = []
  private readonly answer: Promise<WorkerAnswer | undefined>

  private constructor(private readonly worker: Worker) {
    worker.once('online', () => reapplyHeapFlags())
    this.answer = new Promise(resolve => {
      worker.once('message', (answer: WorkerAnswer) => resolve(answer))
      // A thread that died without an answer (out of memory, killed) leaves the caller to hash.
      worker.once('error', () => resolve(undefined))
      worker.once('exit', () => resolve(undefined))
    })
  }

  /** Undefined when no thread can be started here. */
  static start(readWholeMax: number): HashThread | undefined {
    try {
      return new HashThread(
        new Worker(threadPrelude() + WORKER_SOURCE, {
          eval: true,
          workerData: { readWholeMax }
        })
      )
    } catch {
      return undefined
    }
  }

  add(path: string): void {
    this.posted.push(path)
    this.batch.push(path)
    if (this.batch.length >= BATCH) this.post()
  }

  /**
   * Sets the SHA-256 (hex) of each of `files`, every one of which must have been added, by path;
   * each file's `size` becomes the number of bytes hashed. Rejects with the first of them (in
   * their order) that could not be read; resolves false when the thread gave no answer, or a
   * file was never added (the caller then hashes them itself).
   */
  async finish(files: LocalFile[]): Promise<boolean> {
    this.post()
    this.worker.postMessage(null)
    const answer = await this.answer
    if (!answer) return false
    const indexOf = this.indexer()
    const failed = new Map(answer.failures.map(f => [f.index, f]))
    const d = answer.digests
    const bytes = Buffer.from(d.buffer, d.byteOffset, d.byteLength)
    for (const f of files) {
      const i = indexOf(f.path)
      if (i === undefined) return false
      const failure = failed.size > 0 ? failed.get(i) : undefined
      if (failure) {
        const err: Error & { code?: string } = new Error(failure.message)
        if (failure.code) err.code = failure.code
        throw err
      }
      f.sha256 = bytes.toString('hex', 32 * i, 32 * i + 32)
      f.size = answer.sizes[i]
    }
    return true
  }

  /**
   * Where each path was added, asked in the order of the files finish() is given. Those are
   * usually the added paths in the same order, less a few left out: a look further along the
   * list finds them without a map of 50,000 paths, which is built only once a path is not there.
   */
  private indexer(): (path: string) => number | undefined {
    const posted = this.posted
    let next = 0
    let at: Map<string, number> | undefined
    return path => {
      if (!at) {
        for (let i = next; i < posted.length && i < next + 64; i++) {
          if (posted[i] !== path) continue
          next = i + 1
          return i
        }
        at = new Map()
        posted.forEach((p, i) => at?.set(p, i))
      }
      return at.get(path)
    }
  }

  /** Ends the thread whatever it is doing: the walk failed, nothing will be uploaded. */
  stop(): void {
    void this.worker.terminate()
  }

  private post(): void {
    if (this.batch.length === 0) return
    this.worker.postMessage(this.batch)
    this.batch = []
  }
}
