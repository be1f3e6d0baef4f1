import { Worker } from 'node:worker_threads'
import * as core from '@actions/core'
import { reapplyHeapFlags, threadPrelude } from '../heap.js'

/** Files the thread reads ahead of the sender at most: page cache, not memory of ours. */
const READ_AHEAD_FILES = 1024

/** Reads timed before the thread is judged needed or not, and judged again after. */
const SAMPLE = 64

/**
 * Slow samples in a row that start the thread: a warm 50,000-file deploy here had one sample
 * in 781 whose median read 67 µs (the machine busy elsewhere), never two in a row.
 */
const SLOW_SAMPLES = 2

/**
 * Median open, read and close of one small file above which the source is judged not in the
 * page cache. The median, as a busy machine preempts the odd read for milliseconds: on this
 * 2-core VM, 4 KiB files read in 13-14 µs (median; mean 24 µs) from the cache and 100-300 µs
 * from its disk; a cloud runner's network disk takes milliseconds.
 */
const COLD_MEDIAN_MS = 0.05

export interface ThreadShared {
  /** [0]: small files the sender has read; [1]: 1 once the thread must stop. */
  progress: Int32Array
  paths: string[]
  ahead: number
}

/**
 * The thread's whole program (run from its source text, as landing-thread.ts's): reads each
 * file once, in the order the sender will, staying at most `ahead` files in front of it.
 */
export function readAheadThread(fs: typeof import('node:fs'), shared: ThreadShared): void {
  const { progress, paths, ahead } = shared
  const scratch = Buffer.allocUnsafe(256 * 1024)
  for (let i = 0; i < paths.length; i++) {
    for (;;) {
      if (Atomics.load(progress, 1) === 1) return
      const done = Atomics.load(progress, 0)
      if (i < done) i = done
      if (i < done + ahead) break
      Atomics.wait(progress, 0, done, 200)
    }
    if (i >= paths.length) return
    try {
      const fd = fs.openSync(paths[i], 'r')
      try {
        while (fs.readSync(fd, scratch, 0, scratch.length, null) > 0);
      } finally {
        fs.closeSync(fd)
      }
    } catch {
      // The sender reads it again and reports what is wrong with it.
    }
  }
}

const READ_AHEAD_PROGRAM =
  `const { workerData } = require('node:worker_threads');\n` +
  `(${readAheadThread.toString()})(require('node:fs'), workerData)`

/**
 * Small files are read synchronously on the main thread when their bytes go out (local-file.ts):
 * from the page cache that costs microseconds, but a source that is not in the cache (a tree
 * written long ago, a cache the host reclaimed) makes every read wait for the disk, and the
 * whole upload waits with it: no answer from the server is read meanwhile. When reads are slow,
 * a thread reads the next files ahead of the sender, in its order, so that they are in the
 * cache when their turn comes. From the cache, nothing starts and nothing is read twice.
 */
export class ReadAhead {
  private readonly progress = new Int32Array(new SharedArrayBuffer(8))
  private worker: Worker | undefined
  private readCount = 0
  private readonly samples = new Float64Array(SAMPLE)
  private sampled = 0
  private slowInARow = 0

  constructor(
    /** The small files' paths, in the order the sender reads them. */
    private readonly paths: string[],
    private readonly start: (shared: ThreadShared) => Worker = startThread
  ) {}

  /** The sender read one more small file, which took `ms`. */
  read(ms: number): void {
    const count = ++this.readCount
    Atomics.store(this.progress, 0, count)
    if (this.worker) {
      if ((count & 31) === 0) Atomics.notify(this.progress, 0)
      return
    }
    this.samples[this.sampled++] = ms
    if (this.sampled < SAMPLE) return
    this.sampled = 0
    const median = this.samples.slice().sort()[SAMPLE >> 1]
    this.slowInARow = median > COLD_MEDIAN_MS ? this.slowInARow + 1 : 0
    if (this.slowInARow < SLOW_SAMPLES || count >= this.paths.length) return
    core.debug(
      `Local reads are slow (median ${(1000 * median).toFixed(0)} µs per file after ${count} ` +
        'files): reading the next files ahead on a thread.'
    )
    this.worker = this.start({
      progress: this.progress,
      paths: this.paths,
      ahead: READ_AHEAD_FILES
    })
    this.worker.unref()
    this.worker.on('error', () => undefined)
  }

  close(): void {
    Atomics.store(this.progress, 1, 1)
    Atomics.notify(this.progress, 0)
    this.worker = undefined
  }
}

function startThread(shared: ThreadShared): Worker {
  const worker = new Worker(threadPrelude() + READ_AHEAD_PROGRAM, {
    eval: true,
    workerData: shared,
    resourceLimits: { maxYoungGenerationSizeMb: 2 }
  })
  worker.once('online', () => reapplyHeapFlags())
  return worker
}
