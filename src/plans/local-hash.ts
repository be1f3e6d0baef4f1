import { createHash, hash as oneShot } from 'node:crypto'
import { closeSync, createReadStream, openSync, readSync, statSync } from 'node:fs'
import pLimit from 'p-limit'
import { HashThread } from './hash-thread.js'
import { sizeUnsized, UNSIZED, type LocalFile } from './local-files.js'

/** Big files hashed at once: the disk is faster than the network. */
const HASH_CONCURRENCY = 8

/**
 * Up to this size a file is read synchronously: an asynchronous read costs four thread-pool
 * round trips (10,000 small files: 90 ms instead of 600 ms).
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
 * Sets the SHA-256 (hex) of every local file (`sha256`): on a second thread for many files, else
 * on this one.
 */
export async function hashLocalFiles(
  files: LocalFile[],
  onThread = files.length >= WORKER_MIN_FILES
): Promise<void> {
  if (onThread && (await hashOnThread(files))) return
  await hashHere(files)
}

/**
 * Hashes on a worker thread. Resolves false when no thread could be started or it died
 * without an answer (the caller then hashes on this thread); a file that cannot be read
 * rejects, as it would here.
 */
export async function hashOnThread(files: LocalFile[]): Promise<boolean> {
  const thread = HashThread.start(READ_WHOLE_MAX)
  if (!thread) return false
  for (const f of files) thread.add(f.path)
  return thread.finish(files)
}

/**
 * Hashes files as a walk finds them: once it has found enough for a second thread, that thread
 * starts on them while the walk goes on (50,000 files: the walk's 0.4 s no longer come before
 * the hashing's 1 to 2 s, which was what the plan waited for). Fewer are hashed here afterwards.
 */
export class LocalHasher {
  private found: string[] = []
  private thread: HashThread | undefined
  private tried = false

  constructor(private readonly threadFrom = WORKER_MIN_FILES) {}

  /** A file found, by its local path; it may still be left out of the upload. */
  readonly add = (path: string): void => {
    if (this.thread) return this.thread.add(path)
    if (this.tried) return
    this.found.push(path)
    if (this.found.length < this.threadFrom) return
    this.tried = true
    this.thread = HashThread.start(READ_WHOLE_MAX)
    for (const p of this.found) this.thread?.add(p)
    this.found = []
  }

  /** Whether a second thread took the hashing on. */
  get threaded(): boolean {
    return this.thread !== undefined
  }

  /**
   * Sets the SHA-256 (hex) of each of `files`, all of them found through add(). A file the walk
   * did not size has its size once this resolves: the bytes the second thread hashed, else its
   * stat.
   */
  async hashes(files: LocalFile[]): Promise<void> {
    this.found = []
    try {
      this.answeredByThread = (await this.thread?.finish(files)) === true
      if (!this.answeredByThread) await hashHere(files)
    } catch (err) {
      // The run fails, but its report still names each file (a fan-out's other servers): with
      // its size, not UNSIZED, wherever a stat can still tell it.
      for (const f of files) {
        if (f.size === UNSIZED) f.size = sizeOrZero(f.path)
      }
      throw err
    }
  }

  /** Whether hashes() took the second thread's answer (it hashes here when there is none). */
  answeredByThread = false

  /** The walk failed: a thread still hashing its files is stopped. */
  stop(): void {
    this.thread?.stop()
  }
}

function sizeOrZero(file: string): number {
  try {
    return statSync(file).size
  } catch {
    return 0
  }
}

async function hashHere(files: LocalFile[]): Promise<void> {
  sizeUnsized(files)
  const limit = pLimit(HASH_CONCURRENCY)
  const big: Array<Promise<void>> = []
  let failure: unknown
  try {
    let inTurn = 0
    for (const f of files) {
      if (f.size <= READ_WHOLE_MAX) f.sha256 = hashSmallFile(f.path)
      else big.push(limit(async () => void (f.sha256 = await hashBigFile(f.path))))
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
