import { createHash, randomBytes } from 'node:crypto'
import {
  copyRange,
  REQUESTS_PER_LANE,
  Watermark,
  type ChunkReader,
  type ChunkWriter
} from '../../src/engine/chunks.js'
import { buffers as pool } from '../../src/engine/buffer-pool.js'

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex')

/** Lets every pending promise callback and timer-free continuation run. */
const flush = () => new Promise<void>(resolve => setImmediate(resolve))

/** A small deterministic PRNG so "random" orders and delays are reproducible. */
function prng(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

function shuffle<T>(items: T[], random: () => number): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[out[i], out[j]] = [out[j], out[i]]
  }
  return out
}

/** Splits data into [offset, bytes] chunks of `size`. */
function chunksOf(data: Buffer, size: number): Array<[number, Buffer]> {
  const out: Array<[number, Buffer]> = []
  for (let at = 0; at < data.length; at += size) out.push([at, data.subarray(at, at + size)])
  return out
}

describe('Watermark', () => {
  it('starts where it is told', () => {
    expect(new Watermark().value).toBe(0)
    expect(new Watermark(123).value).toBe(123)
  })

  it('advances only over the contiguous prefix when chunks complete out of order', () => {
    const w = new Watermark()
    w.complete(10, 10)
    w.complete(30, 5)
    expect(w.value).toBe(0)
    w.complete(0, 10)
    expect(w.value).toBe(20)
    w.complete(20, Buffer.alloc(10))
    expect(w.value).toBe(35)
    w.complete(40, 1)
    expect(w.value).toBe(35)
    w.complete(35, 5)
    expect(w.value).toBe(41)
  })

  it('counts a Buffer by its length when not hashing', () => {
    const w = new Watermark()
    w.complete(0, Buffer.alloc(7))
    expect(w.value).toBe(7)
    expect(w.digest()).toBeUndefined()
  })

  it('reach() resolves at once when the prefix is already there', async () => {
    const w = new Watermark(50)
    let done = false
    void w.reach(50).then(() => (done = true))
    await flush()
    expect(done).toBe(true)
  })

  it('reach() resolves exactly when the prefix gets there, not before', async () => {
    const w = new Watermark()
    const reached: number[] = []
    for (const at of [5, 10, 20]) void w.reach(at).then(() => reached.push(at))
    w.complete(5, 5) // past a gap: nothing moves
    await flush()
    expect(reached).toEqual([])
    w.complete(0, 4)
    await flush()
    expect(reached).toEqual([])
    w.complete(4, 1) // prefix now 10
    await flush()
    expect(reached.sort((a, b) => a - b)).toEqual([5, 10])
    w.complete(10, 9)
    await flush()
    expect(reached).toHaveLength(2)
    w.complete(19, 1)
    await flush()
    expect(reached.sort((a, b) => a - b)).toEqual([5, 10, 20])
  })

  it('wakeAll() releases every waiter even though the gap never fills', async () => {
    const w = new Watermark()
    let woken = 0
    void w.reach(100).then(() => woken++)
    void w.reach(200).then(() => woken++)
    await flush()
    expect(woken).toBe(0)
    w.wakeAll()
    await flush()
    expect(woken).toBe(2)
    expect(w.value).toBe(0)
  })

  it('a hashing watermark digests the data in order whatever the completion order', () => {
    const data = randomBytes(10 * 1000 + 3)
    const random = prng(7)
    for (let round = 0; round < 5; round++) {
      const w = new Watermark(0, true)
      for (const [offset, bytes] of shuffle(chunksOf(data, 1000), random)) w.complete(offset, bytes)
      expect(w.value).toBe(data.length)
      expect(w.digest()).toBe(sha256(data))
    }
  })

  it('a hashing watermark rewound below its mark restarts at 0 with a fresh hash', () => {
    const data = randomBytes(4000)
    const w = new Watermark(0, true)
    w.complete(0, data.subarray(0, 1000))
    // Content the server never kept: it must not end up in the digest.
    w.complete(1000, Buffer.alloc(1000, 0xff))
    expect(w.value).toBe(2000)
    w.rewind(1500)
    expect(w.value).toBe(0)
    for (const [offset, bytes] of chunksOf(data, 1000).reverse()) w.complete(offset, bytes)
    expect(w.value).toBe(4000)
    expect(w.digest()).toBe(sha256(data))
  })

  it('a hashing watermark rewound to its mark or beyond keeps the mark and the hash', () => {
    const data = randomBytes(3000)
    const w = new Watermark(0, true)
    w.complete(0, data.subarray(0, 1000))
    w.complete(2000, Buffer.alloc(1000)) // held past the gap, dropped by the rewind
    w.rewind(5000)
    expect(w.value).toBe(1000)
    w.complete(1000, data.subarray(1000, 2000))
    expect(w.value).toBe(2000)
    w.complete(2000, data.subarray(2000))
    expect(w.digest()).toBe(sha256(data))
  })

  it('a plain watermark rewinds to min(mark, verified), never below 0', () => {
    const w = new Watermark(20)
    w.rewind(100)
    expect(w.value).toBe(20)
    w.rewind(15)
    expect(w.value).toBe(15)
    w.rewind(-5)
    expect(w.value).toBe(0)
  })

  it('rewind drops chunks held past a gap', () => {
    const w = new Watermark()
    w.complete(10, 10)
    w.rewind(0)
    w.complete(0, 10)
    expect(w.value).toBe(10)
  })
})

interface FakeOptions {
  chunkSize: number
  readerLanes?: number
  writerLanes?: number
  /** Maximum random delay per request, ms. */
  maxDelayMs?: number
  seed?: number
  failRead?: (offset: number) => Error | undefined
  failWrite?: (offset: number) => Error | undefined
  /** Holds a read until the promise resolves. */
  holdRead?: (offset: number) => Promise<void> | undefined
}

/** An in-memory source and destination that log every request and count those in flight. */
function fakes(source: Buffer, options: FakeOptions) {
  const random = prng(options.seed ?? 1)
  const delay = () => {
    const ms = Math.floor(random() * ((options.maxDelayMs ?? 0) + 1))
    return new Promise<void>(resolve => (ms ? setTimeout(resolve, ms) : setImmediate(resolve)))
  }
  const dest = Buffer.alloc(source.length)
  const stats = {
    reads: [] as Array<[number, number]>,
    writes: [] as number[],
    inFlight: 0,
    maxInFlight: 0
  }
  const enter = () => {
    stats.inFlight++
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight)
  }
  const reader: ChunkReader = {
    chunkSize: options.chunkSize,
    lanes: options.readerLanes ?? 1,
    async read(offset, length) {
      stats.reads.push([offset, length])
      enter()
      try {
        await (options.holdRead?.(offset) ?? delay())
        const failure = options.failRead?.(offset)
        if (failure) throw failure
        expect(offset + length).toBeLessThanOrEqual(source.length)
        return Buffer.from(source.subarray(offset, offset + length))
      } finally {
        stats.inFlight--
      }
    }
  }
  const writer: ChunkWriter = {
    chunkSize: options.chunkSize,
    lanes: options.writerLanes ?? 1,
    async write(offset, data) {
      stats.writes.push(offset)
      enter()
      try {
        await delay()
        const failure = options.failWrite?.(offset)
        if (failure) throw failure
        data.copy(dest, offset)
      } finally {
        stats.inFlight--
      }
    }
  }
  return { reader, writer, dest, stats }
}

/** Fails the test instead of hanging it when a promise never settles. */
function within<T>(promise: Promise<T>, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

describe('copyRange', () => {
  const CHUNK = 64

  it.each([0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 10 * CHUNK + 3])(
    'copies %i bytes byte for byte, each range once, with random delays',
    async size => {
      const source = randomBytes(size)
      const { reader, writer, dest, stats } = fakes(source, {
        chunkSize: CHUNK,
        maxDelayMs: 3,
        seed: size + 1
      })
      const watermark = new Watermark(0, true)
      let counted = 0
      await within(copyRange(reader, writer, size, watermark, n => (counted += n)))
      expect(dest.equals(source)).toBe(true)
      expect(counted).toBe(size)
      expect(watermark.value).toBe(size)
      expect(watermark.digest()).toBe(sha256(source))
      expect(stats.reads).toHaveLength(Math.ceil(size / CHUNK))
      expect(new Set(stats.writes).size).toBe(stats.writes.length)
      for (const [, length] of stats.reads) expect(length).toBeLessThanOrEqual(CHUNK)
    }
  )

  it('uses the smaller of the two chunk sizes', async () => {
    const source = randomBytes(1000)
    const { reader, writer, dest, stats } = fakes(source, { chunkSize: 100 })
    const small: ChunkWriter = { ...writer, chunkSize: 30, write: writer.write }
    await within(copyRange(reader, small, source.length, new Watermark(), () => undefined))
    expect(dest.equals(source)).toBe(true)
    expect(Math.max(...stats.reads.map(([, l]) => l))).toBe(30)
  })

  it.each([
    [1, 1],
    [2, 1],
    [1, 3]
  ])(
    'never has more than REQUESTS_PER_LANE x lanes requests in flight (reader %i, writer %i lanes)',
    async (readerLanes, writerLanes) => {
      const size = 300 * CHUNK
      const source = randomBytes(size)
      const { reader, writer, dest, stats } = fakes(source, {
        chunkSize: CHUNK,
        readerLanes,
        writerLanes,
        maxDelayMs: 2,
        seed: readerLanes * 10 + writerLanes
      })
      await within(copyRange(reader, writer, size, new Watermark(), () => undefined))
      expect(dest.equals(source)).toBe(true)
      const bound = REQUESTS_PER_LANE * Math.max(readerLanes, writerLanes)
      expect(stats.maxInFlight).toBeLessThanOrEqual(bound)
      // The pipeline is really used: the bound is reached, not just respected.
      expect(stats.maxInFlight).toBe(bound)
    }
  )

  it('rejects with the read error and does not hang', async () => {
    const source = randomBytes(50 * CHUNK)
    const boom = new Error('read failed')
    const { reader, writer } = fakes(source, {
      chunkSize: CHUNK,
      maxDelayMs: 2,
      failRead: offset => (offset === 7 * CHUNK ? boom : undefined)
    })
    const watermark = new Watermark()
    await expect(
      within(copyRange(reader, writer, source.length, watermark, () => undefined))
    ).rejects.toBe(boom)
    expect(watermark.value).toBeLessThanOrEqual(7 * CHUNK)
  })

  it('rejects with the write error and does not hang', async () => {
    const source = randomBytes(50 * CHUNK)
    const boom = new Error('write failed')
    const { reader, writer } = fakes(source, {
      chunkSize: CHUNK,
      failWrite: offset => (offset === 3 * CHUNK ? boom : undefined)
    })
    await expect(
      within(copyRange(reader, writer, source.length, new Watermark(), () => undefined))
    ).rejects.toBe(boom)
  })

  it('wakes requests parked behind a gap when the request holding the gap fails', async () => {
    // The first chunk stalls, then fails; everything far enough past it waits on the
    // watermark and must be released or the copy never settles.
    const depth = REQUESTS_PER_LANE
    const size = 20 * 4 * depth * CHUNK
    const source = randomBytes(size)
    let release: () => void = () => undefined
    const held = new Promise<void>(resolve => (release = resolve))
    const boom = new Error('first chunk lost')
    const { reader, writer, stats } = fakes(source, {
      chunkSize: CHUNK,
      holdRead: offset => (offset === 0 ? held : undefined),
      failRead: offset => (offset === 0 ? boom : undefined)
    })
    const copy = within(copyRange(reader, writer, size, new Watermark(), () => undefined))
    copy.catch(() => undefined)
    // Let the other requests run ahead until they park.
    for (let i = 0; i < 50; i++) await flush()
    const readSoFar = stats.reads.length
    for (let i = 0; i < 20; i++) await flush()
    expect(stats.reads.length).toBe(readSoFar) // parked, not running ahead without bound
    const furthest = Math.max(...stats.reads.map(([offset]) => offset))
    expect(furthest).toBeGreaterThan(0)
    expect(furthest).toBeLessThan(size / 2)
    release()
    await expect(copy).rejects.toBe(boom)
  })

  it('runs ahead of a slow chunk only so far, then finishes once it arrives', async () => {
    const size = 40 * 4 * REQUESTS_PER_LANE * CHUNK
    const source = randomBytes(size)
    let release: () => void = () => undefined
    const held = new Promise<void>(resolve => (release = resolve))
    const { reader, writer, dest, stats } = fakes(source, {
      chunkSize: CHUNK,
      holdRead: offset => (offset === 0 ? held : undefined)
    })
    const watermark = new Watermark(0, true)
    const copy = within(copyRange(reader, writer, size, watermark, () => undefined))
    for (let i = 0; i < 50; i++) await flush()
    expect(watermark.value).toBe(0)
    expect(Math.max(...stats.reads.map(([offset]) => offset))).toBeLessThan(size / 2)
    release()
    await copy
    expect(dest.equals(source)).toBe(true)
    expect(watermark.digest()).toBe(sha256(source))
  })

  it('resumes from a watermark: only the rest is read and written', async () => {
    const size = 10 * CHUNK + 3
    const from = 4 * CHUNK
    const source = randomBytes(size)
    const { reader, writer, dest, stats } = fakes(source, { chunkSize: CHUNK, maxDelayMs: 2 })
    source.copy(dest, 0, 0, from) // what the first attempt left
    let counted = 0
    await within(copyRange(reader, writer, size, new Watermark(from), n => (counted += n)))
    expect(dest.equals(source)).toBe(true)
    expect(counted).toBe(size - from)
    expect(Math.min(...stats.reads.map(([offset]) => offset))).toBe(from)
    expect(Math.min(...stats.writes)).toBe(from)
    expect(stats.reads.reduce((sum, [, length]) => sum + length, 0)).toBe(size - from)
  })

  it('resumes a failed hashing copy with the same watermark and still gets the right digest', async () => {
    const size = 40 * CHUNK + 5
    const source = randomBytes(size)
    const watermark = new Watermark(0, true)
    const first = fakes(source, {
      chunkSize: CHUNK,
      maxDelayMs: 2,
      failRead: offset => (offset === 25 * CHUNK ? new Error('dropped') : undefined)
    })
    await expect(
      within(copyRange(first.reader, first.writer, size, watermark, () => undefined))
    ).rejects.toThrow('dropped')
    const kept = watermark.value
    expect(kept).toBeGreaterThan(0)
    expect(kept).toBeLessThanOrEqual(25 * CHUNK)
    watermark.rewind(kept)
    const second = fakes(source, { chunkSize: CHUNK, maxDelayMs: 2, seed: 9 })
    first.dest.copy(second.dest, 0, 0, kept)
    await within(copyRange(second.reader, second.writer, size, watermark, () => undefined))
    expect(second.dest.equals(source)).toBe(true)
    expect(Math.min(...second.stats.reads.map(([offset]) => offset))).toBe(kept)
    expect(watermark.digest()).toBe(sha256(source))
  })

  it.each([false, true])(
    'an attempt that starts over never counts chunks a lost attempt wrote (hashing: %s)',
    async hashing => {
      // Two cuts, as a download or relay meets them: the first loses chunk 0 while later
      // chunks land, so nothing is kept and the next attempt truncates and starts over; that
      // one loses chunk 1. The third resumes from the mark and must find every byte below it.
      const size = 80 * CHUNK
      const source = randomBytes(size)
      const watermark = new Watermark(0, hashing)
      const attempt = async (lost: number, dest?: Buffer) => {
        let release: () => void = () => undefined
        const held = new Promise<void>(resolve => (release = resolve))
        const run = fakes(source, {
          chunkSize: CHUNK,
          holdRead: offset => (offset === lost ? held : undefined),
          failRead: offset => (offset === lost ? new Error('cut') : undefined)
        })
        dest?.copy(run.dest)
        const copy = within(copyRange(run.reader, run.writer, size, watermark, () => undefined))
        copy.catch(() => undefined)
        for (let i = 0; i < 50; i++) await flush()
        release()
        await expect(copy).rejects.toThrow('cut')
        return run
      }
      const first = await attempt(0)
      expect(first.stats.writes.length).toBeGreaterThan(1)
      expect(watermark.value).toBe(0)
      const second = await attempt(CHUNK) // a fresh, truncated file: nothing resumed
      expect(second.stats.writes).toContain(0)
      expect(watermark.value).toBe(CHUNK)
      const kept = watermark.value
      expect(second.dest.subarray(0, kept).equals(source.subarray(0, kept))).toBe(true)
      const third = fakes(source, { chunkSize: CHUNK, maxDelayMs: 2, seed: 3 })
      second.dest.copy(third.dest)
      await within(copyRange(third.reader, third.writer, size, watermark, () => undefined))
      expect(Math.min(...third.stats.reads.map(([offset]) => offset))).toBe(kept)
      expect(third.dest.equals(source)).toBe(true)
      if (hashing) expect(watermark.digest()).toBe(sha256(source))
    }
  )
})

describe('chunk buffer pool', () => {
  const CHUNK = 4096

  /** A reader whose chunks come from the pool and a writer that copies only after a delay. */
  function pooledFakes(source: Buffer, seed: number) {
    const random = prng(seed)
    const later = () => new Promise<void>(resolve => setTimeout(resolve, Math.floor(random() * 3)))
    const dest = Buffer.alloc(source.length)
    const buffers = new Set<ArrayBufferLike>()
    const reader: ChunkReader = {
      chunkSize: CHUNK,
      lanes: 2,
      read: async (offset, length) => {
        const buffer = pool.take(length)
        buffers.add(buffer.buffer)
        source.copy(buffer, 0, offset, offset + length)
        await later()
        return buffer
      }
    }
    const writer: ChunkWriter = {
      chunkSize: CHUNK,
      lanes: 1,
      write: async (offset, data) => {
        await later()
        data.copy(dest, offset)
      }
    }
    return { reader, writer, dest, buffers }
  }

  it.each([false, true])(
    'reuses chunk buffers only once written and hashed, never sooner (hashing: %s)',
    async hashing => {
      const size = 300 * CHUNK + 17
      const source = randomBytes(size)
      const { reader, writer, dest, buffers } = pooledFakes(source, hashing ? 7 : 3)
      const watermark = new Watermark(0, hashing)
      await within(
        copyRange(reader, writer, size, watermark, () => undefined),
        20_000
      )
      expect(dest.equals(source)).toBe(true)
      if (hashing) expect(watermark.digest()).toBe(sha256(source))
      // 301 chunks through a few dozen buffers: each served many chunks.
      expect(buffers.size).toBeLessThan(100)
    }
  )
})
