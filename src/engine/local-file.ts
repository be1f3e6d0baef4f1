import { closeSync, openSync, readSync } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { TransferError } from '../errors.js'
import { buffers, WRITE_HEADROOM } from './buffer-pool.js'
import type { ChunkReader, ChunkWriter } from './chunks.js'
import type { ReadAhead } from './read-ahead.js'

/** Local disk is not the bottleneck; one lane and a generous chunk. */
const LOCAL_CHUNK = 1024 * 1024

/**
 * Files up to this size are read synchronously, at the moment their bytes are sent: from the page
 * cache that is a few microseconds, while asynchronous open, read and close cost three
 * thread-pool round trips per file, which dominate when thousands of small files go out.
 */
const READ_WHOLE_MAX = 256 * 1024

/** Opens a local file for sending; `size` is what the plan expects it to hold. */
export async function openLocalFile(
  path: string,
  size: number,
  readAhead?: ReadAhead
): Promise<ChunkReader & Closable> {
  return readsWhole(size) ? new SmallFileReader(path, readAhead) : LocalFileReader.open(path)
}

/** Whether openLocalFile reads a file of `size` bytes synchronously (see ReadAhead). */
export function readsWhole(size: number): boolean {
  return size <= READ_WHOLE_MAX
}

interface Closable {
  close(): Promise<void>
}

/**
 * A small file, read when its bytes are asked for, not when it is opened: the remote temporary
 * file's handle takes a round trip to arrive, and bytes read before it would be held meanwhile,
 * hundreds of files at once.
 */
class SmallFileReader implements ChunkReader, Closable {
  readonly chunkSize = LOCAL_CHUNK
  readonly lanes = 1

  constructor(
    private readonly path: string,
    private readonly readAhead: ReadAhead | undefined
  ) {}

  /**
   * The bytes land in the buffer pool's memory, which the sender gives back once its WRITE is
   * built (see sendWhole): a fresh buffer per file above 4 KiB was an ArrayBuffer of its own for
   * the collector to free, tens of thousands of times.
   */
  async read(offset: number, length: number): Promise<Buffer> {
    const data = buffers.take(length)
    const started = this.readAhead ? performance.now() : 0
    let fd: number | undefined
    try {
      fd = openSync(this.path, 'r')
      let got = 0
      while (got < length) {
        const n = readSync(fd, data, got, length - got, offset + got)
        if (n === 0) throw shorter(this.path)
        got += n
      }
    } catch (err) {
      buffers.give(data)
      throw err
    } finally {
      if (fd !== undefined) closeSync(fd)
    }
    this.readAhead?.read(performance.now() - started)
    return data
  }

  async close(): Promise<void> {}
}

function shorter(path: string): TransferError {
  return new TransferError(`${path} changed while it was being sent (it got shorter).`)
}

export class LocalFileReader implements ChunkReader {
  readonly chunkSize = LOCAL_CHUNK
  readonly lanes = 1

  private constructor(
    private readonly file: FileHandle,
    private readonly path: string
  ) {}

  static async open(path: string): Promise<LocalFileReader> {
    return new LocalFileReader(await open(path, 'r'), path)
  }

  /**
   * Each chunk keeps room in front (see WRITE_HEADROOM): the bundle's ssh2 builds its WRITE
   * request there and sends the chunk from where it lies, instead of copying every byte of the
   * file into a request buffer of its own first. copyRange gives the chunk back only once the
   * write is answered.
   */
  async read(offset: number, length: number): Promise<Buffer> {
    const buffer = buffers.take(length, WRITE_HEADROOM)
    const { bytesRead } = await this.file.read(buffer, 0, length, offset)
    if (bytesRead !== length) throw shorter(this.path)
    return buffer
  }

  close(): Promise<void> {
    return this.file.close()
  }
}

/**
 * Bytes written between background flushes. A big download is flushed to disk before its rename;
 * left to the end, that fsync wrote the whole file out while nothing else happened (512 MiB: 0.35
 * to 0.4 s on the test machine, a tenth of a loopback download). Flushing what was written so far
 * each time this much more has been written overlaps the disk with the transfer, so the final
 * fsync finds only the last few MiB.
 */
export const FLUSH_EVERY = 32 * 1024 * 1024

export class LocalFileWriter implements ChunkWriter {
  readonly chunkSize = LOCAL_CHUNK
  readonly lanes = 1
  private unflushed = 0
  private flushing: Promise<void> | undefined
  /** A background flush's failure: Linux reports a write-back error to one fsync only. */
  private flushError: unknown
  private flushedBytes = 0

  private constructor(
    private readonly file: FileHandle,
    private readonly flushEvery: number
  ) {}

  /** `resume` keeps what an earlier attempt wrote; otherwise the file starts empty. */
  static async open(
    path: string,
    resume: boolean,
    flushEvery = FLUSH_EVERY
  ): Promise<LocalFileWriter> {
    return new LocalFileWriter(await open(path, resume ? 'r+' : 'w', 0o600), flushEvery)
  }

  async write(offset: number, data: Buffer): Promise<void> {
    let done = 0
    while (done < data.length) {
      const { bytesWritten } = await this.file.write(data, done, data.length - done, offset + done)
      done += bytesWritten
    }
    this.unflushed += data.length
    if (this.unflushed >= this.flushEvery && !this.flushing) this.flushInBackground()
  }

  /** Bytes that a background flush has seen written to disk (for the tests). */
  get flushed(): number {
    return this.flushedBytes
  }

  /** Flushed to disk before the rename makes it visible under its real name. */
  async close(): Promise<void> {
    try {
      await this.flushing
      if (this.flushError !== undefined) throw this.flushError
      await this.file.sync()
    } finally {
      await this.file.close()
    }
  }

  private flushInBackground(): void {
    const upTo = this.flushedBytes + this.unflushed
    this.unflushed = 0
    this.flushing = this.file.datasync().then(
      () => {
        this.flushedBytes = upTo
        this.flushing = undefined
      },
      (err: unknown) => {
        this.flushError ??= err
        this.flushing = undefined
      }
    )
  }
}
