import { Writable } from 'node:stream'
import type ssh2 from 'ssh2'
import { coalesceWrites } from '../../src/connection/write-batching.js'

/**
 * The socket of a connection behind a jump host: a stream (a channel of the bastion's
 * connection), not a net.Socket. This one keeps what it is given and takes its time to call back,
 * as a channel waiting for window space does.
 */
function channelSocket() {
  const taken: Array<{ data: Buffer; buffer: ArrayBufferLike; done: () => void }> = []
  const sock = new Writable({
    highWaterMark: 1 << 30,
    write(chunk: Buffer, _encoding, callback) {
      taken.push({ data: Buffer.from(chunk), buffer: chunk.buffer, done: () => callback() })
    }
  })
  const client = { _sock: sock } as unknown as ssh2.Client
  coalesceWrites(client)
  return { sock, taken }
}

const tick = () => new Promise<void>(resolve => setImmediate(resolve))

describe('writes through a jump host', () => {
  it('joins what one tick writes, in order, into one write', async () => {
    const { sock, taken } = channelSocket()
    const parts = [Buffer.alloc(4, 1), Buffer.alloc(32_800, 2), Buffer.alloc(16, 3)]
    for (const part of parts) sock.write(part)
    await tick()
    expect(taken.length).toBe(1)
    expect(taken[0].data.equals(Buffer.concat(parts))).toBe(true)
  })

  it('reuses a join buffer once the channel has taken its bytes, and not before', async () => {
    const { sock, taken } = channelSocket()
    const round = async (fill: number): Promise<void> => {
      sock.write(Buffer.alloc(40_000, fill))
      sock.write(Buffer.alloc(40_000, fill + 1))
      await tick()
    }
    await round(1)
    // The first join is still held by the channel: the next tick must not write over it.
    await round(3)
    taken[0].done()
    await tick()
    expect(taken.length).toBe(2)
    expect(taken[1].buffer).not.toBe(taken[0].buffer)
    expect(
      taken[0].data.equals(Buffer.concat([Buffer.alloc(40_000, 1), Buffer.alloc(40_000, 2)]))
    ).toBe(true)
    taken[1].done()
    await tick()
    // Both were given back: the next joins are put together in them, not in new buffers.
    await round(5)
    taken[2].done()
    await tick()
    await round(7)
    expect(taken.length).toBe(4)
    expect([taken[0].buffer, taken[1].buffer]).toContain(taken[2].buffer)
    expect([taken[0].buffer, taken[1].buffer]).toContain(taken[3].buffer)
    expect(
      taken[3].data.equals(Buffer.concat([Buffer.alloc(40_000, 7), Buffer.alloc(40_000, 8)]))
    ).toBe(true)
  })
})
