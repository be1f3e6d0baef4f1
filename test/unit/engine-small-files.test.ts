import type { SftpChannel } from '../../src/engine/sftp.js'
import { readSmallFile, writeSmallFileAtomically } from '../../src/engine/small-files.js'

/** Lets every queued promise callback run. */
const settle = () => new Promise<void>(r => setImmediate(r))

/** An in-order server whose answers wait for `answerAll`; it keeps what was written. */
class HeldChannel {
  readonly sent: string[] = []
  readonly processesInOrder = true
  readonly maxWriteLen = 4
  readonly files = new Map<string, Buffer>()
  private readonly held: Array<() => void> = []
  private open_ = ''

  private later<T>(what: string, value: () => T): Promise<T> {
    this.sent.push(what)
    return new Promise<T>(resolve => this.held.push(() => resolve(value())))
  }

  answerAll(): void {
    this.held.splice(0).forEach(answer => answer())
  }

  open = (path: string) =>
    this.later(`open`, () => {
      this.open_ = path
      this.files.set(path, Buffer.alloc(0))
      return Buffer.from('h')
    })
  write = (_h: Buffer, data: Buffer, position: number) =>
    this.later(`write ${position}`, () => {
      const old = this.files.get(this.open_) ?? Buffer.alloc(0)
      const out = Buffer.alloc(Math.max(old.length, position + data.length))
      old.copy(out)
      data.copy(out, position)
      this.files.set(this.open_, out)
    })
  fstat = () => this.later('fstat', () => ({ size: this.files.get(this.open_)?.length ?? 0 }))
  close = () => this.later('close', () => undefined)
  replace = (from: string, to: string) =>
    this.later('rename', () => {
      this.files.set(to, this.files.get(from) ?? Buffer.alloc(0))
      this.files.delete(from)
    })
}

describe('writeSmallFileAtomically', () => {
  it('sends every write, the size check and the close together once the handle arrives', async () => {
    const fake = new HeldChannel()
    const done = writeSmallFileAtomically(fake as unknown as SftpChannel, '/t/state', 'ten bytes!')
    await settle()
    expect(fake.sent).toEqual(['open'])
    fake.answerAll()
    await settle()
    // One round trip for all of them, however many writes the file needs.
    expect(fake.sent.slice(1)).toEqual(['write 0', 'write 4', 'write 8', 'fstat', 'close'])
    fake.answerAll()
    await settle()
    expect(fake.sent.slice(6)).toEqual(['rename'])
    fake.answerAll()
    await done
    expect(fake.files.get('/t/state')?.toString()).toBe('ten bytes!')
    expect([...fake.files.keys()]).toEqual(['/t/state'])
  })

  it('does not rename a file the server holds at another size', async () => {
    const fake = new HeldChannel()
    fake.fstat = () => Promise.resolve({ size: 3 })
    const done = writeSmallFileAtomically(
      fake as unknown as SftpChannel,
      '/t/state',
      'ten bytes!'
    ).catch((err: unknown) => err)
    for (let i = 0; i < 3; i++) {
      await settle()
      fake.answerAll()
    }
    expect(String(await done)).toMatch(/holds 3 bytes/)
    expect(fake.sent).not.toContain('rename')
  })
})

/**
 * A server holding one file whose content may change after its size was asked (`later`); reads
 * are answered only on answerAll, so the test sees what was sent together.
 */
class ReadChannel {
  readonly sent: string[] = []
  readonly maxReadLen = 4
  private readonly held: Array<() => void> = []
  constructor(
    private content: Buffer,
    private readonly later?: Buffer,
    /** Answers at most this many bytes per read, as some servers do. */
    private readonly split = Infinity
  ) {}

  private hold<T>(what: string, value: () => T): Promise<T> {
    this.sent.push(what)
    return new Promise<T>(resolve => this.held.push(() => resolve(value())))
  }

  async answerUntil(done: Promise<unknown>): Promise<void> {
    let finished = false
    void done.finally(() => (finished = true)).catch(() => undefined)
    while (!finished) {
      await settle()
      this.held.splice(0).forEach(answer => answer())
    }
  }

  /** Answers round by round; what was sent in each round, until `done` settles. */
  async rounds(done: Promise<unknown>): Promise<string[][]> {
    const rounds: string[][] = []
    let finished = false
    void done.finally(() => (finished = true)).catch(() => undefined)
    let seen = 0
    while (!finished) {
      await settle()
      if (this.sent.length > seen) rounds.push(this.sent.slice(seen))
      seen = this.sent.length
      this.held.splice(0).forEach(answer => answer())
    }
    return rounds
  }

  open = () => this.hold('open', () => Buffer.from('h'))
  fstat = () =>
    this.hold('fstat', () => {
      const size = this.content.length
      if (this.later) this.content = this.later
      return { size }
    })
  read = (_h: Buffer, into: Buffer, length: number, position: number) =>
    this.hold(`read ${position}`, () => {
      const piece = this.content.subarray(position, position + Math.min(length, this.split))
      piece.copy(into)
      return piece.length
    })
  close = () => this.hold('close', () => undefined)
}

describe('readSmallFile', () => {
  const read = async (fake: ReadChannel, max?: number) => {
    const done = readSmallFile(fake as unknown as SftpChannel, '/t/state', max)
    await fake.answerUntil(done)
    return done
  }

  // Sizes around the read length: the read past the end must prove the end however they fall.
  it.each([0, 1, 3, 4, 5, 8, 13])('reads a %i-byte file whole', async size => {
    const text = 'abcdefghijklmnopq'.slice(0, size)
    expect(await read(new ReadChannel(Buffer.from(text)))).toBe(text)
  })

  it('asks the size with the first read, then every other read together', async () => {
    const fake = new ReadChannel(Buffer.from('0123456789'))
    const done = readSmallFile(fake as unknown as SftpChannel, '/t/state')
    expect(await fake.rounds(done)).toEqual([
      ['open'],
      ['fstat', 'read 0'],
      // The last read's 3 bytes reach past byte 10: its short answer is the end.
      ['read 4', 'read 8'],
      ['close']
    ])
    expect(await done).toBe('0123456789')
  })

  it('reads a file the first read holds with that read alone', async () => {
    const fake = new ReadChannel(Buffer.from('012'))
    const done = readSmallFile(fake as unknown as SftpChannel, '/t/state')
    expect(await fake.rounds(done)).toEqual([['open'], ['fstat', 'read 0'], ['close']])
    expect(await done).toBe('012')
  })

  it('reads on to the end of a file that grew since its size was asked', async () => {
    const fake = new ReadChannel(Buffer.from('short'), Buffer.from('short, then longer'))
    expect(await read(fake)).toBe('short, then longer')
  })

  it('ends a file that shrank at its first short answer', async () => {
    const fake = new ReadChannel(Buffer.from('a longer text'), Buffer.from('a long'))
    expect(await read(fake)).toBe('a long')
  })

  it('reads to the end without a size when the server cannot tell it', async () => {
    const fake = new ReadChannel(Buffer.from('no size for this one'))
    fake.fstat = () => Promise.reject(new Error('unsupported'))
    expect(await read(fake)).toBe('no size for this one')
  })

  it('asks again for what a server answered short', async () => {
    const fake = new ReadChannel(Buffer.from('split into twos'), undefined, 2)
    expect(await read(fake)).toBe('split into twos')
  })

  it.each([
    ['listed', Buffer.from('x'.repeat(12)), undefined],
    ['grown', Buffer.from('x'.repeat(9)), Buffer.from('x'.repeat(30))]
  ])('refuses a file larger than the limit (%s)', async (_, content, later) => {
    await expect(read(new ReadChannel(content, later), 10)).rejects.toThrow(/larger than 10 bytes/)
  })
})

/** A remote file read through a channel that counts its reads; `size` is what fstat says. */
function readable(content: string, size = Buffer.byteLength(content)) {
  const data = Buffer.from(content)
  const channel = {
    maxReadLen: 1024,
    reads: 0,
    open: async () => Buffer.from('h'),
    fstat: async () => ({ size }),
    close: async () => undefined,
    read: async (_h: Buffer, buffer: Buffer, length: number, position: number) => {
      channel.reads++
      return data.copy(buffer, 0, position, Math.min(data.length, position + length))
    }
  }
  return channel
}

describe('readSmallFile: reads counted', () => {
  // The state file is read on every re-deploy: a second read only to learn the end is a round trip.
  it('reads a file that one read holds whole with that one read', async () => {
    const channel = readable('{"version":2}')
    const text = await readSmallFile(channel as unknown as SftpChannel, '/t/state')
    expect(text).toBe('{"version":2}')
    expect(channel.reads).toBe(1)
  })

  it('reads on until the end when the size does not match what came', async () => {
    const channel = readable('{"version":2}', 99)
    const text = await readSmallFile(channel as unknown as SftpChannel, '/t/state')
    expect(text).toBe('{"version":2}')
    expect(channel.reads).toBe(2)
  })
})
