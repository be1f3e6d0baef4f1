import { createHash, type Hash } from 'node:crypto'
import pLimit, { type LimitFunction } from 'p-limit'
import { whenSettled } from '../settle.js'
import { buffers } from './buffer-pool.js'

/** Reads byte ranges of one file. */
export interface ChunkReader {
  /** Largest range one request should ask for. */
  readonly chunkSize: number
  /** Parallel paths (channels) behind this reader; more lanes allow more requests in flight. */
  readonly lanes: number
  /** Resolves with exactly `length` bytes, or rejects. */
  read(offset: number, length: number): Promise<Buffer>
}

/** Writes byte ranges of one file, in any order. */
export interface ChunkWriter {
  readonly chunkSize: number
  readonly lanes: number
  /** Keeps no reference to `data` once settled: copyRange hands the buffer out again. */
  write(offset: number, data: Buffer): Promise<void>
}

/**
 * Requests kept in flight per lane. ssh2 gives each channel a fixed 2 MiB window, which eight
 * requests of OpenSSH's 255 KiB already fill; more would only wait in ssh2's queue, using memory.
 */
export const REQUESTS_PER_LANE = 8

/**
 * Requests in flight across every file on one connection. Many big files moving together must
 * not multiply memory: with 255 KiB requests this caps file data in flight near 24 MiB.
 */
export const REQUESTS_IN_FLIGHT = 96

/** Shares REQUESTS_IN_FLIGHT among the files of one connection. */
export type RequestBudget = LimitFunction

export function requestBudget(): RequestBudget {
  return pLimit(REQUESTS_IN_FLIGHT)
}

/** For copies that share nothing (tests, one-off reads). */
const unshared = requestBudget()

/**
 * How far past the contiguous prefix new requests may start, in requests in flight. One slow
 * request must not let the others run ahead without bound: what they completed is held (for
 * hashing) until the gap fills.
 */
const SPREAD_FACTOR = 4

/**
 * The length of the prefix known to be written: every byte below it was acknowledged. Chunks
 * complete out of order, so a chunk past a gap waits here until the gap fills. A retry resumes
 * from this point, never from a file size that might hide an unwritten hole. With `hash`, the
 * prefix is also hashed in order as it grows, so a file's SHA-256 is known the moment it lands.
 */
export class Watermark {
  private readonly ahead = new Map<number, Buffer | number>()
  /** Chunks held for hashing that go back to the pool once hashed (see buffer-pool.ts). */
  private readonly pooled = new Set<Buffer>()
  private hash: Hash | undefined
  private digested: string | undefined
  private waiters: Array<{ at: number; resolve: () => void }> = []

  constructor(
    private mark = 0,
    private readonly hashing = false
  ) {
    this.hash = hashing ? createHash('sha256') : undefined
  }

  get value(): number {
    return this.mark
  }

  /** Whether completed chunks are hashed, so must be handed over as bytes, not a length. */
  get hashes(): boolean {
    return this.hashing
  }

  /** The SHA-256 (hex) of the whole prefix; call once, when the prefix is the whole file. */
  digest(): string | undefined {
    // A retry after the file was complete asks again: the answer must not change.
    this.digested ??= this.hash?.digest('hex')
    return this.digested
  }

  /**
   * After a reconnect: trust no more than `verified` bytes, e.g. what the file really holds.
   * A hash cannot be rewound, so a hashing watermark that must go back starts again from 0.
   */
  rewind(verified: number): void {
    this.dropAhead()
    const target = Math.max(0, Math.min(this.mark, verified))
    if (this.hashing && target < this.mark) {
      this.mark = 0
      this.hash = createHash('sha256')
      this.digested = undefined
      return
    }
    this.mark = target
  }

  /**
   * Forgets chunks held past a gap. They were written by an attempt that is over, to a file a
   * later attempt may have truncated and rewritten only in part: counted once the gap fills, they
   * would carry the mark over bytes the file no longer holds, and a resume would skip them.
   */
  dropAhead(): void {
    this.ahead.clear()
    this.pooled.clear()
  }

  /**
   * Records that `data` landed at `offset`. With `release`, the watermark owns `data` from now
   * on and gives it back to the chunk pool once it no longer needs it (at once, or once hashed).
   */
  complete(offset: number, data: Buffer | number, release = false): void {
    // Nothing to add; and a finished hash must not be updated again (an empty file's retry).
    if ((typeof data === 'number' ? data : data.length) === 0) return
    if (release && typeof data !== 'number') {
      if (this.hashing) this.pooled.add(data)
      else buffers.give(data)
    }
    if (offset === this.mark && this.ahead.size === 0) {
      // In order, as nearly every chunk lands: no need to park it in `ahead` first.
      this.advance(data)
      return this.release()
    }
    this.ahead.set(offset, this.hashing ? data : typeof data === 'number' ? data : data.length)
    let next = this.ahead.get(this.mark)
    while (next !== undefined) {
      this.ahead.delete(this.mark)
      this.advance(next)
      next = this.ahead.get(this.mark)
    }
    this.release()
  }

  private advance(next: Buffer | number): void {
    if (typeof next === 'number' || !this.hashing) {
      this.mark += typeof next === 'number' ? next : next.length
      return
    }
    this.hash?.update(next)
    this.mark += next.length
    if (this.pooled.delete(next)) buffers.give(next)
  }

  /** Resolves once the prefix reaches `at`. */
  reach(at: number): Promise<void> {
    if (this.mark >= at) return Promise.resolve()
    return new Promise(resolve => this.waiters.push({ at, resolve }))
  }

  /** Wakes every waiter, e.g. when the copy failed and the gap will never fill. */
  wakeAll(): void {
    for (const w of this.waiters) w.resolve()
    this.waiters = []
  }

  private release(): void {
    if (this.waiters.length === 0) return
    const ready = this.waiters.filter(w => w.at <= this.mark)
    this.waiters = this.waiters.filter(w => w.at > this.mark)
    for (const w of ready) w.resolve()
  }
}

/**
 * Copies bytes [from, size) from `reader` to `writer` with many requests in flight. Memory is
 * bounded by requests in flight times chunk size, whatever the file size.
 */
export async function copyRange(
  reader: ChunkReader,
  writer: ChunkWriter,
  size: number,
  watermark: Watermark,
  onBytes: (n: number) => void,
  budget: RequestBudget = unshared
): Promise<void> {
  const chunk = Math.min(reader.chunkSize, writer.chunkSize)
  const depth = REQUESTS_PER_LANE * Math.max(reader.lanes, writer.lanes)
  const spread = SPREAD_FACTOR * depth * chunk
  // Only this attempt's chunks may move the mark (see dropAhead).
  watermark.dropAhead()
  let next = watermark.value
  let failure: unknown
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < size) {
      const offset = next
      const length = Math.min(chunk, size - offset)
      next += length
      try {
        await watermark.reach(offset - spread)
        if (failure !== undefined) return
        const data = await budget(async () => {
          const chunk = await reader.read(offset, length)
          await writer.write(offset, chunk)
          return chunk
        })
        // Read, written and no longer referenced by either side: the buffer may serve again.
        watermark.complete(offset, data, true)
      } catch (err) {
        failure ??= err
        watermark.wakeAll()
        return
      }
      onBytes(length)
    }
  }
  await Promise.all(Array.from({ length: depth }, worker))
  if (failure !== undefined) throw failure
}

/**
 * Bytes of small files held whole in memory across one connection. Hundreds of files move at
 * once, each read whole (up to 256 KiB): without a cap, 1024 of them could hold 256 MiB.
 */
export const SMALL_FILE_BYTES_IN_FLIGHT = 32 * 1024 * 1024

/** A first-come first-served budget of bytes; a request above the capacity waits for all of it. */
export class ByteBudget {
  private used = 0
  private readonly queue: Array<{ bytes: number; go: () => void }> = []

  constructor(readonly capacity: number = SMALL_FILE_BYTES_IN_FLIGHT) {}

  use<T>(bytes: number, work: () => Promise<T>): Promise<T> {
    const take = Math.min(bytes, this.capacity)
    if (this.queue.length > 0 || this.used + take > this.capacity) {
      return new Promise<void>(go => this.queue.push({ bytes: take, go })).then(() =>
        this.run(take, work)
      )
    }
    this.used += take
    return this.run(take, work)
  }

  /** Runs `work` on `take` bytes already counted (no async frame: one use per small file). */
  private run<T>(take: number, work: () => Promise<T>): Promise<T> {
    return whenSettled(work, () => {
      this.used -= take
      this.wake()
    })
  }

  get inUse(): number {
    return this.used
  }

  private wake(): void {
    while (this.queue.length > 0 && this.used + this.queue[0].bytes <= this.capacity) {
      const next = this.queue.shift() as { bytes: number; go: () => void }
      this.used += next.bytes
      next.go()
    }
  }
}

/** A file already in memory (a small file read whole), read as ranges. */
export class BufferReader implements ChunkReader {
  readonly lanes = 1

  constructor(private readonly data: Buffer) {}

  get chunkSize(): number {
    return Math.max(1, this.data.length)
  }

  async read(offset: number, length: number): Promise<Buffer> {
    return this.data.subarray(offset, offset + length)
  }

  async close(): Promise<void> {}
}
