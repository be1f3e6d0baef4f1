import { EventEmitter } from 'node:events'
import type ssh2 from 'ssh2'
import { ConnectionError, ExtraConnectionLost } from '../../src/errors.js'
import { Liveness } from '../../src/engine/liveness.js'
import { SftpChannel } from '../../src/engine/sftp.js'

type Callback = (err: Error | null | undefined, value?: unknown) => void

/** A channel whose reads wait until the test answers them. */
function channel(liveness: Liveness) {
  const pending: Callback[] = []
  const sftp = Object.assign(new EventEmitter(), {
    _maxReadLen: 4,
    _maxWriteLen: 4,
    read: (_h: Buffer, _b: Buffer, _o: number, _l: number, _p: number, cb: Callback) =>
      void pending.push(cb)
  })
  return { channel: new SftpChannel(sftp as unknown as ssh2.SFTPWrapper, liveness), pending, sftp }
}

const read = (c: SftpChannel) => c.read(Buffer.from('h'), Buffer.alloc(4), 4, 0)

describe('SftpChannel on an extra connection (behind a jump host)', () => {
  it('reports network trouble as that connection lost, and drops it for every lane on it', async () => {
    const liveness = new Liveness(true)
    const one = channel(liveness)
    const two = channel(liveness)
    const first = read(one.channel)
    const second = read(two.channel)
    one.pending[0](new Error('No response from server'))
    await expect(first).rejects.toBeInstanceOf(ExtraConnectionLost)
    // The other lane on the same connection is given up with it, and nothing new is sent there.
    await expect(second).rejects.toBeInstanceOf(ExtraConnectionLost)
    expect(liveness.lost).toBe(true)
    await expect(read(two.channel)).rejects.toBeInstanceOf(ExtraConnectionLost)
  })

  it('says the same when the server closes one of its channels', async () => {
    const liveness = new Liveness(true)
    const one = channel(liveness)
    const pending = read(one.channel)
    one.sftp.emit('close')
    await expect(pending).rejects.toBeInstanceOf(ExtraConnectionLost)
  })

  it('passes a file fault through as it is', async () => {
    const liveness = new Liveness(true)
    const one = channel(liveness)
    const pending = read(one.channel)
    const denied = Object.assign(new Error('Permission denied'), { code: 3 })
    one.pending[0](denied)
    await expect(pending).rejects.toBe(denied)
    expect(liveness.lost).toBe(false)
  })

  it("leaves the session's own connection's errors as they were", async () => {
    const liveness = new Liveness()
    const one = channel(liveness)
    const pending = read(one.channel)
    one.pending[0](new Error('No response from server'))
    const err: unknown = await pending.catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ConnectionError)
    expect(err).not.toBeInstanceOf(ExtraConnectionLost)
  })
})
