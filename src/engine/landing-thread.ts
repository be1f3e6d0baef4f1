import { Worker } from 'node:worker_threads'
import { TransferError } from '../errors.js'
import type { PhaseTimes } from '../report/timings.js'
import type { FileAttributes } from './attributes.js'
import { reapplyHeapFlags, threadPrelude } from '../heap.js'
import { landWhole, type LandingFs } from './local-landing.js'

/**
 * Bytes of small files sent to the landing thread in one message. Each batch's bytes are copied
 * into one fresh buffer that moves to the thread without another copy; a batch goes when the
 * event loop comes round (setImmediate) or when it is full.
 */
const BATCH_BYTES = 256 * 1024
/** Batch buffers kept for reuse once the thread hands them back. */
const SPARE_BATCHES = 8
const BATCH_FILES = 128

/** The landing thread stopped or never started: files not yet landed are not kept. */
export class LandingStopped extends TransferError {}

interface Job {
  temp: string
  final: string
  offset: number
  length: number
  attrs: FileAttributes | undefined
}

interface Batch {
  id: number
  arena: ArrayBuffer
  jobs: Job[]
}

interface Outcome {
  ms: number
  error?: { message: string; code?: string }
}

interface Waiter {
  resolve: () => void
  reject: (err: Error) => void
}

interface Reply {
  id: number
  outcomes: Outcome[]
  /** The batch's buffer, back for the next batch. */
  arena: ArrayBuffer
}

interface ThreadPort {
  on(event: 'message', listener: (batch: Batch) => void): void
  postMessage(reply: Reply, transfer: ArrayBuffer[]): void
}

/**
 * The thread's whole program. It runs from its source text (toString), so that the one-file
 * bundle needs no second entry point: it uses nothing but its arguments.
 */
function landingThread(fs: LandingFs, port: ThreadPort, land: typeof landWhole): void {
  port.on('message', batch => {
    const outcomes: Outcome[] = []
    for (const job of batch.jobs) {
      const started = performance.now()
      try {
        const data = new Uint8Array(batch.arena, job.offset, job.length)
        land(job.temp, job.final, data, job.attrs, fs)
        outcomes.push({ ms: performance.now() - started })
      } catch (err) {
        const { message, code } = err as { message: string; code?: string }
        outcomes.push({ ms: performance.now() - started, error: { message, code } })
      }
    }
    port.postMessage({ id: batch.id, outcomes, arena: batch.arena }, [batch.arena])
  })
}

const LANDING_PROGRAM =
  `(${landingThread.toString()})(require('node:fs'), ` +
  `require('node:worker_threads').parentPort, ${landWhole.toString()})`

/** The thread's source: the run's heap flags first (threadPrelude), then its program. */
export function landingThreadSource(): string {
  return threadPrelude() + LANDING_PROGRAM
}

/** The thread allocates little but views and results: a small young generation is plenty. */
function startThread(): Worker {
  const worker = new Worker(landingThreadSource(), {
    eval: true,
    resourceLimits: { maxYoungGenerationSizeMb: 2 }
  })
  worker.once('online', () => reapplyHeapFlags())
  return worker
}

/**
 * Lands small downloaded files (landWhole) on a thread of their own. On the main thread, the
 * open, write, close and rename of each file took 0.2 to 0.4 ms under load (far more when the
 * disk is busy), 2 to 4 s of a 10,000-file pull during which no answer from the server was read.
 * The thread starts with the first file and stops with close(); if it fails, every file waiting
 * on it, and every later one, fails with one LandingStopped error.
 */
export class LandingThread {
  private worker: Worker | undefined
  private stopped: LandingStopped | undefined
  private batch:
    { id: number; arena: Buffer; used: number; jobs: Job[]; waiters: Waiter[] } | undefined
  private readonly sent = new Map<number, Waiter[]>()
  private nextId = 0
  private readonly spare: ArrayBuffer[] = []

  constructor(
    private readonly times: PhaseTimes | undefined,
    private readonly start: () => Worker = startThread
  ) {}

  /** Resolves once the file is in place; `data` may be reused as soon as this returns. */
  land(
    tempPath: string,
    finalPath: string,
    data: Uint8Array,
    attrs: FileAttributes | undefined
  ): Promise<void> {
    if (this.stopped) return Promise.reject(this.stopped)
    if (this.batch && this.batch.used + data.length > this.batch.arena.length) this.send()
    const batch = (this.batch ??= this.newBatch(data.length))
    batch.arena.set(data, batch.used)
    batch.jobs.push({
      temp: tempPath,
      final: finalPath,
      offset: batch.used,
      length: data.length,
      attrs
    })
    batch.used += data.length
    const landed = new Promise<void>((resolve, reject) => batch.waiters.push({ resolve, reject }))
    if (batch.jobs.length >= BATCH_FILES) this.send()
    return landed
  }

  /** Stops the thread; files still waiting fail. */
  async close(): Promise<void> {
    this.fail(new LandingStopped('the download ended before these files were written'))
    await this.worker?.terminate()
  }

  private arena(length: number): Buffer {
    const spare = length <= BATCH_BYTES ? this.spare.pop() : undefined
    return spare ? Buffer.from(spare) : Buffer.allocUnsafeSlow(Math.max(BATCH_BYTES, length))
  }

  private newBatch(length: number) {
    const batch = {
      id: this.nextId++,
      arena: this.arena(length),
      used: 0,
      jobs: [] as Job[],
      waiters: [] as Waiter[]
    }
    setImmediate(() => {
      if (this.batch === batch) this.send()
    })
    return batch
  }

  private send(): void {
    const batch = this.batch
    if (!batch) return
    this.batch = undefined
    const worker = this.thread()
    if (!worker) {
      for (const w of batch.waiters) w.reject(this.stopped as LandingStopped)
      return
    }
    if (this.sent.size === 0) worker.ref()
    this.sent.set(batch.id, batch.waiters)
    const message: Batch = {
      id: batch.id,
      arena: batch.arena.buffer as ArrayBuffer,
      jobs: batch.jobs
    }
    worker.postMessage(message, [message.arena])
  }

  private thread(): Worker | undefined {
    if (this.worker || this.stopped) return this.worker
    try {
      const worker = this.start()
      worker.on('message', (reply: Reply) => this.settle(reply))
      worker.on('error', err => this.fail(stoppedBy(err.message)))
      // An answer that cannot be read would leave its files waiting for ever.
      worker.on('messageerror', err => {
        this.fail(stoppedBy(err.message))
        // Its files were given up: it must not go on landing them behind the caller's back.
        void worker.terminate()
      })
      worker.on('exit', code => this.fail(stoppedBy(`it exited with code ${code}`)))
      worker.unref()
      this.worker = worker
    } catch (err) {
      this.fail(stoppedBy((err as Error).message))
    }
    return this.worker
  }

  private settle(reply: Reply): void {
    if (reply.arena.byteLength === BATCH_BYTES && this.spare.length < SPARE_BATCHES) {
      this.spare.push(reply.arena)
    }
    const waiters = this.sent.get(reply.id)
    if (!waiters) return
    this.sent.delete(reply.id)
    if (this.sent.size === 0) this.worker?.unref()
    reply.outcomes.forEach((outcome, i) => {
      this.times?.add('write and rename', outcome.ms)
      if (!outcome.error) return waiters[i].resolve()
      waiters[i].reject(
        Object.assign(new Error(outcome.error.message), { code: outcome.error.code })
      )
    })
  }

  private fail(err: LandingStopped): void {
    this.stopped ??= err
    const waiting = [...this.sent.values()].flat()
    this.sent.clear()
    if (this.batch) waiting.push(...this.batch.waiters)
    this.batch = undefined
    for (const w of waiting) w.reject(this.stopped ?? err)
  }
}

function stoppedBy(reason: string): LandingStopped {
  return new LandingStopped(
    `the thread that writes downloaded files on the runner stopped (${reason}); ` +
      'files it had not written were not kept.'
  )
}
