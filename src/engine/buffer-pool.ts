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

  /**
   * `length` bytes, in memory of an idle buffer of the same size class when there is one. With
   * `headroom`, the bytes start that far into the memory when the size class has room for both,
   * and the view is marked (see hasWriteHeadroom).
   */
  take(length: number, headroom = 0): Buffer {
    const size = sizeClass(length)
    const at = headroom > 0 && length + headroom <= size ? headroom : 0
    const idle = this.idle.get(size)
    let view: Buffer | undefined
    for (const memory of idle ?? []) {
      idle?.delete(memory)
      this.kept -= size
      view = Buffer.from(memory, at, length)
      break
    }
    if (view === undefined) {
      const made = Buffer.allocUnsafeSlow(size)
      this.made.add(made.buffer)
      view = made.subarray(at, at + length)
    }
    if (at > 0) withHeadroom.add(view)
    return view
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

/**
 * Room kept before a relay's chunk, for the SFTP WRITE request's header (25 bytes and the handle;
 * OpenSSH's handles are 4 bytes): ssh2, patched at build time, then sends the chunk from where it
 * lies instead of copying it into a request buffer (scripts/ssh2-patches.mjs).
 */
export const WRITE_HEADROOM = 64

/** Views whose WRITE_HEADROOM bytes in front belong to them: a write may put a header there. */
const withHeadroom = new WeakSet<Buffer>()

export function hasWriteHeadroom(data: Buffer): boolean {
  return withHeadroom.has(data)
}

function sizeClass(length: number): number {
  return 2 ** Math.max(10, Math.ceil(Math.log2(Math.max(1, length))))
}

/**
 * The one pool every transfer of the step shares: 16 MiB idle at most, next to the 24 MiB of
 * requests in flight per connection (REQUESTS_IN_FLIGHT) and the 32 MiB of small files.
 */
export const buffers = new BufferPool(16 * 1024 * 1024)
