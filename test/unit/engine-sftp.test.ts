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

/** A channel whose folder listings wait until the test answers each READDIR. */
function lister(inOrder: boolean) {
  const readdirs: Callback[] = []
  const closed: Buffer[] = []
  const sftp = Object.assign(new EventEmitter(), {
    _maxReadLen: 4,
    _maxWriteLen: 4,
    _isOpenSSH: inOrder,
    opendir: (_p: string, cb: Callback) => cb(undefined, Buffer.from('d')),
    readdir: (_h: Buffer, cb: Callback) => void readdirs.push(cb),
    close: (h: Buffer, cb: Callback) => {
      closed.push(h)
      cb(undefined)
    }
  })
  return { channel: new SftpChannel(sftp as unknown as ssh2.SFTPWrapper), readdirs, closed }
}

const names = (...n: string[]) => n.map(filename => ({ filename, attrs: { mode: 0o100644 } }))
const eof = () => Object.assign(new Error('EOF'), { code: 1 })
const turn = () => new Promise(resolve => setImmediate(resolve))

describe('SftpChannel.readdir', () => {
  // At 50 ms a round trip, a folder of 200 names took 3 READDIR round trips; now 1.
  it('asks for the next batches before the answer to this one, where the server answers in order', async () => {
    const { channel, readdirs, closed } = lister(true)
    const listing = channel.readdir('/srv')
    await turn()
    expect(readdirs).toHaveLength(3)
    readdirs[0](undefined, names('a', 'b'))
    readdirs[1](undefined, names('c'))
    readdirs[2](eof())
    await turn()
    // One more request for each batch that was answered with names; EOF ends the listing.
    expect(readdirs).toHaveLength(5)
    readdirs[3](eof())
    readdirs[4](eof())
    expect((await listing).map(e => e.name)).toEqual(['a', 'b', 'c'])
    expect(closed).toHaveLength(1)
  })

  it('asks for one batch at a time elsewhere', async () => {
    const { channel, readdirs } = lister(false)
    const listing = channel.readdir('/srv')
    await turn()
    expect(readdirs).toHaveLength(1)
    readdirs[0](undefined, names('a'))
    await turn()
    expect(readdirs).toHaveLength(2)
    readdirs[1](eof())
    expect((await listing).map(e => e.name)).toEqual(['a'])
  })

  it('rejects with the error of a batch, and leaves no request unhandled', async () => {
    const { channel, readdirs } = lister(true)
    const listing = channel.readdir('/srv')
    await turn()
    for (const answer of readdirs)
      answer(Object.assign(new Error('Permission denied'), { code: 3 }))
    await expect(listing).rejects.toThrow('Permission denied')
  })
})
