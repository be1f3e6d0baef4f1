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
  write(offset: number, data: Buffer): Promise<void>
}

/** Requests kept in flight per lane: enough to cover a round trip, bounded for memory. */
export const REQUESTS_PER_LANE = 16

/**
 * The length of the prefix known to be written: every byte below it was acknowledged. Chunks
 * complete out of order, so a chunk past a gap waits here until the gap fills. A retry resumes
 * from this point, never from a file size that might hide an unwritten hole.
 */
export class Watermark {
  private readonly ahead = new Map<number, number>()

  constructor(private mark = 0) {}

  get value(): number {
    return this.mark
  }

  /** After a reconnect: trust no more than `verified` bytes, e.g. what the file really holds. */
  rewind(verified: number): void {
    this.ahead.clear()
    this.mark = Math.max(0, Math.min(this.mark, verified))
  }

  complete(offset: number, length: number): void {
    this.ahead.set(offset, length)
    let next = this.ahead.get(this.mark)
    while (next !== undefined) {
      this.ahead.delete(this.mark)
      this.mark += next
      next = this.ahead.get(this.mark)
    }
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
  onBytes: (n: number) => void
): Promise<void> {
  const chunk = Math.min(reader.chunkSize, writer.chunkSize)
  const depth = REQUESTS_PER_LANE * Math.max(reader.lanes, writer.lanes)
  let next = watermark.value
  let failure: unknown
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < size) {
      const offset = next
      const length = Math.min(chunk, size - offset)
      next += length
      try {
        const data = await reader.read(offset, length)
        await writer.write(offset, data)
      } catch (err) {
        failure ??= err
        return
      }
      watermark.complete(offset, length)
      onBytes(length)
    }
  }
  await Promise.all(Array.from({ length: depth }, worker))
  if (failure !== undefined) throw failure
}
