import { BufferPool, hasWriteHeadroom, WRITE_HEADROOM } from '../../src/engine/buffer-pool.js'

const MiB = 1024 * 1024

describe('BufferPool', () => {
  it('gives memory back to the next request of its size class, as a view of the length asked', () => {
    const pool = new BufferPool(MiB)
    const first = pool.take(5000)
    expect(first.length).toBe(5000)
    pool.give(first)
    // 5000 and 7000 bytes share a class: the same memory serves both, one after the other.
    const second = pool.take(7000)
    expect(second.buffer).toBe(first.buffer)
    expect(second.length).toBe(7000)
    expect(pool.take(7000).buffer).not.toBe(first.buffer)
    const small = pool.take(100)
    pool.give(small)
    expect(pool.take(9000).buffer).not.toBe(small.buffer)
  })

  it('takes back only memory it made, and each piece once', () => {
    const pool = new BufferPool(MiB)
    pool.give(Buffer.allocUnsafeSlow(4096))
    pool.give(Buffer.from('a slice of something else'))
    expect(pool.idleBytes).toBe(0)
    const made = pool.take(4096)
    pool.give(made)
    pool.give(made.subarray(0, 10))
    expect(pool.idleBytes).toBe(4096)
    // Given twice, it must not be handed to two users at once.
    expect(pool.take(4096).buffer).toBe(made.buffer)
    expect(pool.take(4096).buffer).not.toBe(made.buffer)
  })

  it('keeps room before a chunk for a write header when its size class has it, and marks it', () => {
    const pool = new BufferPool(MiB)
    const roomy = pool.take(261_120, WRITE_HEADROOM)
    expect(roomy.length).toBe(261_120)
    expect(roomy.byteOffset).toBe(WRITE_HEADROOM)
    expect(hasWriteHeadroom(roomy)).toBe(true)
    // 32 KiB and its room would need the next class: no room rather than twice the memory.
    const full = pool.take(32 * 1024, WRITE_HEADROOM)
    expect(full.byteOffset).toBe(0)
    expect(full.buffer.byteLength).toBe(32 * 1024)
    expect(hasWriteHeadroom(full)).toBe(false)
    // Memory given back serves a plain request from its start, unmarked.
    pool.give(roomy)
    const plain = pool.take(200_000)
    expect(plain.buffer).toBe(roomy.buffer)
    expect(plain.byteOffset).toBe(0)
    expect(hasWriteHeadroom(plain)).toBe(false)
    expect(hasWriteHeadroom(plain.subarray(0))).toBe(false)
  })

  it('keeps no more idle bytes than its cap', () => {
    const pool = new BufferPool(16 * MiB)
    const taken = Array.from({ length: 80 }, () => pool.take(255 * 1024))
    for (const b of taken) pool.give(b)
    expect(pool.idleBytes).toBe(16 * MiB)
    const memory = new Set(taken.map(b => b.buffer))
    const again = Array.from({ length: 80 }, () => pool.take(255 * 1024))
    expect(again.filter(b => memory.has(b.buffer))).toHaveLength(64)
  })
})
