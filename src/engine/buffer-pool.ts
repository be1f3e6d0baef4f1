/**
 * Buffers kept for reuse: the chunks a big file moves in (thousands of 255 KiB reads) and the
 * small files a download reads whole. A fresh buffer for each costs new pages from the kernel,
 * and the buffers left behind are memory outside the JS heap that only a garbage collection frees:
 * more CPU, measured, than the bytes' own copies (docs/adr/0005), and for a pull of 10,000 small
 * files up to 30 MiB waiting, a fifth of the step's peak. Sizes go by powers of two, so a few
 * classes serve every request, and idle buffers are capped in bytes, not in count.
 */
export class BufferPool {
  private readonly idle = new Map<number, Set<ArrayBuffer>>()
  /** Only buffers the pool made go back to it: never a caller's own, or a slice of a bigger one. */
  private readonly made = new WeakSet<ArrayBufferLike>()
  private kept = 0

  constructor(private readonly keptMax: number) {}

  /** `length` bytes, in memory of an idle buffer of the same size class when there is one. */
  take(length: number): Buffer {
    const size = sizeClass(length)
    const idle = this.idle.get(size)
    for (const memory of idle ?? []) {
      idle?.delete(memory)
      this.kept -= size
      return Buffer.from(memory, 0, length)
    }
    const made = Buffer.allocUnsafeSlow(size)
    this.made.add(made.buffer)
    return made.subarray(0, length)
  }

  /**
   * Gives `data`'s memory back. Only once nothing reads or writes it any more (a request in
   * flight may still fill it); giving the same memory twice keeps it once.
   */
  give(data: Buffer): void {
    const memory = data.buffer as ArrayBuffer
    if (!this.made.has(memory)) return
    const size = memory.byteLength
    const idle = this.idle.get(size) ?? new Set<ArrayBuffer>()
    if (idle.has(memory) || this.kept + size > this.keptMax) return
    this.idle.set(size, idle)
    idle.add(memory)
    this.kept += size
  }

  /** Idle bytes, for the tests. */
  get idleBytes(): number {
    return this.kept
  }
}

function sizeClass(length: number): number {
  return 2 ** Math.max(10, Math.ceil(Math.log2(Math.max(1, length))))
}

/**
 * The one pool every transfer of the step shares: 16 MiB idle at most, next to the 24 MiB of
 * requests in flight per connection (REQUESTS_IN_FLIGHT) and the 32 MiB of small files.
 */
export const buffers = new BufferPool(16 * 1024 * 1024)
