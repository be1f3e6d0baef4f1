import { ConnectionError, TransferError } from '../../src/errors.js'
import { buffers } from '../../src/engine/buffer-pool.js'
import { fetchWhole, type WholeRun } from '../../src/engine/download-whole.js'
import type { SftpSession } from '../../src/engine/session.js'
import type { SftpChannel } from '../../src/engine/sftp.js'
import type { TransferOptions } from '../../src/engine/options.js'

/** A channel whose one-round-trip read of a small file fails with `err`, keeping the buffer. */
function failingChannel(err: Error) {
  const given: Buffer[] = []
  const channel = {
    processesInOrder: true,
    maxReadLen: 255 * 1024,
    readWhole: (_path: string, buffer: Buffer) => {
      given.push(buffer)
      return Promise.reject(err)
    }
  } as unknown as SftpChannel
  return { channel, given }
}

const run = {
  options: { onBytes: () => undefined } as unknown as TransferOptions,
  sidecars: undefined,
  landing: {}
} as unknown as WholeRun

// 3000 bytes: a size class of its own among the tests, so the pool's other users don't interfere.
const file = { path: '/srv/f', rel: 'f', size: 3000, mtime: 0 }

describe('fetchWhole', () => {
  it('gives the buffer back to the pool when the server answered with an error', async () => {
    const { channel, given } = failingChannel(new TransferError('/srv/f: permission denied'))
    const before = buffers.idleBytes
    await expect(
      fetchWhole({} as SftpSession, channel, file, '/t/.f.tmp', '/t/f', run)
    ).rejects.toBeInstanceOf(TransferError)
    expect(given).toHaveLength(1)
    expect(buffers.idleBytes).toBeGreaterThan(before)
    // The next small file of that size class gets the same memory.
    const next = buffers.take(file.size + 1)
    expect(next.buffer).toBe(given[0].buffer)
  })

  // A request aborted with its connection may still be answered by ssh2 into that memory.
  it('never gives a buffer back after an abort: another file would share it', async () => {
    const { channel, given } = failingChannel(new ConnectionError('The connection was lost.', true))
    await expect(
      fetchWhole({} as SftpSession, channel, file, '/t/.f.tmp', '/t/f', run)
    ).rejects.toBeInstanceOf(ConnectionError)
    expect(given).toHaveLength(1)
    for (let i = 0; i < 4; i++) expect(buffers.take(file.size + 1).buffer).not.toBe(given[0].buffer)
  })
})
