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

describe('SftpChannel.readWhole', () => {
  /** An in-order server's channel whose answers wait until the test gives them. */
  function wholeChannel(liveness: Liveness) {
    const sent: string[] = []
    const answers: Callback[] = []
    const sftp = Object.assign(new EventEmitter(), {
      _isOpenSSH: true,
      open: (p: string, _f: string, cb: Callback) => {
        sent.push(`open ${p}`)
        answers.push(cb)
      },
      read: (_h: Buffer, b: Buffer, _o: number, l: number, _p: number, cb: Callback) => {
        sent.push(`read ${l}`)
        answers.push((err, n) => {
          if (!err) b.write('hello')
          cb(err, n)
        })
      },
      close: (_h: Buffer, cb: Callback) => {
        sent.push('close')
        answers.push(cb)
      }
    })
    const next = (err?: Error, value?: unknown) => (answers.shift() as Callback)(err, value)
    return { channel: new SftpChannel(sftp as unknown as ssh2.SFTPWrapper, liveness), sent, next }
  }

  it('sends the read and the close together once the handle arrives, and waits for both', async () => {
    const liveness = new Liveness()
    const { channel, sent, next } = wholeChannel(liveness)
    let settled = false
    const buffer = Buffer.alloc(6)
    const reading = channel.readWhole('/s/f', buffer, 6).finally(() => (settled = true))
    expect(sent).toEqual(['open /s/f'])
    next(undefined, Buffer.from('h'))
    expect(sent).toEqual(['open /s/f', 'read 6', 'close'])
    next(undefined, 5)
    await new Promise(r => setImmediate(r))
    // Not before the close came back: the caller may reuse the buffer once this settles.
    expect(settled).toBe(false)
    expect(liveness.stalledForMs(Date.now() + 60_000)).toBeGreaterThan(0)
    next(undefined)
    await expect(reading).resolves.toBe(5)
    expect(buffer.toString('utf8', 0, 5)).toBe('hello')
    // Nothing left waiting: a quiet connection is not taken for a stalled one.
    expect(liveness.stalledForMs(Date.now() + 60_000)).toBe(0)
  })

  it("takes the end of the file for 0 bytes, and reports the read's fault before the close's", async () => {
    const eof = Object.assign(new Error('EOF'), { code: 1 })
    const empty = wholeChannel(new Liveness())
    const nothing = empty.channel.readWhole('/s/e', Buffer.alloc(1), 1)
    empty.next(undefined, Buffer.from('h'))
    empty.next(eof)
    empty.next(undefined)
    await expect(nothing).resolves.toBe(0)

    const denied = Object.assign(new Error('Permission denied'), { code: 3 })
    const failure = Object.assign(new Error('Failure'), { code: 4 })
    const faulty = wholeChannel(new Liveness())
    const reading = faulty.channel.readWhole('/s/f', Buffer.alloc(6), 6)
    faulty.next(undefined, Buffer.from('h'))
    faulty.next(denied)
    faulty.next(failure)
    await expect(reading).rejects.toBe(denied)
  })

  it('fails at once when the connection is lost, and ignores answers after that', async () => {
    const liveness = new Liveness()
    const { channel, next } = wholeChannel(liveness)
    const reading = channel.readWhole('/s/f', Buffer.alloc(6), 6)
    next(undefined, Buffer.from('h'))
    liveness.abortAll('The connection was lost.')
    await expect(reading).rejects.toBeInstanceOf(ConnectionError)
    // Late answers are not taken for answers of a live request (nor a round trip learnt).
    liveness.fastestAnswerMs = Infinity
    next(undefined, 5)
    next(undefined)
    expect(liveness.fastestAnswerMs).toBe(Infinity)
    await expect(channel.readWhole('/s/g', Buffer.alloc(6), 6)).rejects.toThrow(
      /lost before 'open \/s\/g'/
    )
  })
})
