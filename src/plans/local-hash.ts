import { createHash, hash as oneShot } from 'node:crypto'
import { closeSync, createReadStream, openSync, readSync } from 'node:fs'
import pLimit from 'p-limit'
import { HashThread } from './hash-thread.js'
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
 * share it. A few thousand hash here while the target is listed (2000 files: about 50 ms),
 * sooner than a thread starts on a busy machine.
 */
export const WORKER_MIN_FILES = 5000

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
export async function hashOnThread(files: LocalFile[]): Promise<Map<string, string> | undefined> {
  const thread = HashThread.start(READ_WHOLE_MAX)
  if (!thread) return undefined
  for (const f of files) thread.add(f.path)
  return thread.finish(files)
}

/**
 * The source's content hashes, taken when a plan asks for them and only for the files it names:
 * an unchanged re-deploy names none that the sync state's stat cache keys vouch for, and a first
 * deploy none at all (nothing there to compare with). Each file is hashed once per run, whichever
 * server asks first; requests are served one after another.
 */
export class SourceHashes {
  private readonly known = new Map<string, string>()
  private queue: Promise<unknown> = Promise.resolve()
  private started: number | undefined

  /** The first hashing failure: a file of the source that cannot be read fails the run. */
  failure: unknown

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * SHA-256 (hex) by `rel` of at least `files` (a map shared by every request: it may hold
   * more). A file that cannot be read rejects.
   */
  of(files: LocalFile[]): Promise<Map<string, string>> {
    const run = this.queue.then(async () => {
      const missing = files.filter(f => !this.known.has(f.rel))
      if (missing.length === 0) return this.known
      this.started ??= this.now()
      for (const [rel, sha] of await hashLocalFiles(missing)) this.known.set(rel, sha)
      return this.known
    })
    this.queue = run.catch(() => undefined)
    run.catch((err: unknown) => {
      if (this.failure === undefined) this.failure = err
    })
    return run
  }

  /** When the first file was read (runner's clock), for settledKey; undefined before that. */
  get readFrom(): number | undefined {
    return this.started
  }
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
