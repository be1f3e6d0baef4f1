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

describe('SftpChannel.readdir', () => {
  /** A folder of `count` names served 100 a batch; READDIRs wait until the test answers them. */
  function folder(count: number, inOrder: boolean) {
    const names = Array.from({ length: count }, (_, i) => `f${i}`)
    const waiting: Callback[] = []
    let served = 0
    const sftp = Object.assign(new EventEmitter(), {
      _isOpenSSH: inOrder,
      opendir: (_p: string, cb: Callback) => cb(undefined, Buffer.from('d')),
      readdir: (_h: Buffer, cb: Callback) => void waiting.push(cb),
      close: (_h: Buffer, cb: Callback) => cb(undefined)
    })
    /** Answers every READDIR waiting now, in order, as an in-order server does. */
    const answerAll = (): number => {
      const now = waiting.splice(0)
      for (const cb of now) {
        const batch = names.slice(served, served + 100)
        served += batch.length
        if (batch.length === 0) cb(Object.assign(new Error('End of file'), { code: 1 }))
        else
          cb(
            undefined,
            batch.map(filename => ({ filename, attrs: { mode: 0o100644, size: 1 } }))
          )
      }
      return now.length
    }
    const channel = new SftpChannel(sftp as unknown as ssh2.SFTPWrapper)
    return { channel, waiting, answerAll, names }
  }

  const flush = () => new Promise(r => setImmediate(r))

  it('asks for several batches at once from a server that answers in order', async () => {
    const f = folder(250, true)
    const listing = f.channel.readdir('/d')
    await flush()
    // Three batches and the end, in one round trip instead of four.
    expect(f.waiting.length).toBeGreaterThanOrEqual(4)
    let rounds = 0
    while (f.waiting.length > 0 || rounds === 0) {
      f.answerAll()
      rounds++
      await flush()
    }
    expect(rounds).toBe(1)
    expect((await listing).map(e => e.name)).toEqual(f.names)
  })

  it('keeps asking, more at a time, while a long folder goes on', async () => {
    const f = folder(1000, true)
    const listing = f.channel.readdir('/d')
    let rounds = 0
    for (await flush(); f.waiting.length > 0; await flush()) {
      f.answerAll()
      rounds++
    }
    expect(rounds).toBeLessThanOrEqual(3)
    expect((await listing).map(e => e.name)).toEqual(f.names)
  })

  it('asks one batch at a time from a server that may answer out of order', async () => {
    const f = folder(250, false)
    const listing = f.channel.readdir('/d')
    for (await flush(); f.waiting.length > 0; await flush()) {
      expect(f.waiting).toHaveLength(1)
      f.answerAll()
    }
    expect((await listing).map(e => e.name)).toEqual(f.names)
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

const turn = () => new Promise(resolve => setImmediate(resolve))

describe('SftpChannel.readdir errors', () => {
  it('rejects with the error of a batch, and leaves no request unhandled', async () => {
    const { channel, readdirs } = lister(true)
    const listing = channel.readdir('/srv')
    await turn()
    for (const answer of readdirs)
      answer(Object.assign(new Error('Permission denied'), { code: 3 }))
    await expect(listing).rejects.toThrow('Permission denied')
  })
})

describe('SftpChannel round trips', () => {
  it("takes the quickest server's answer as the round trip, not an error of the client's", async () => {
    const liveness = new Liveness()
    const { channel: lane, pending } = channel(liveness)
    const lost = read(lane)
    pending[0](new Error('No response from server'))
    await expect(lost).rejects.toThrow()
    expect(liveness.fastestAnswerMs).toBe(Infinity)
    const slow = read(lane)
    await new Promise(resolve => setTimeout(resolve, 30))
    pending[1](undefined, 4)
    await slow
    expect(liveness.fastestAnswerMs).toBeGreaterThanOrEqual(25)
    // A refusal from the server (an SFTP status) is an answer too.
    const refused = read(lane)
    pending[2](Object.assign(new Error('Permission denied'), { code: 3 }))
    await expect(refused).rejects.toThrow('Permission denied')
    expect(liveness.fastestAnswerMs).toBeLessThan(25)
  })
})
