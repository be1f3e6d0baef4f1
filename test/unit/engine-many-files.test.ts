import { jest } from '@jest/globals'
import type { FileResult } from '../../src/report/types.js'
import type { SftpChannel } from '../../src/engine/sftp.js'

jest.unstable_mockModule('@actions/core', () => ({
  warning: jest.fn(),
  debug: jest.fn(),
  info: jest.fn()
}))

const core = await import('@actions/core')
const { runWithRetries } = await import('../../src/engine/retry.js')
const { ensureRemoteDirs } = await import('../../src/engine/remote-dirs.js')
const { readWholeRemote } = await import('../../src/engine/whole-remote.js')
const { ByteBudget } = await import('../../src/engine/chunks.js')
const { SftpChannel: Channel, FALLBACK_OPEN_HANDLES } = await import('../../src/engine/sftp.js')

/** Lets every queued promise callback run. */
const settle = () => new Promise<void>(r => setImmediate(r))

/** Answers are held until `answerAll`, so a test sees what went out before any came back. */
class FakeChannel {
  readonly sent: string[] = []
  private readonly held: Array<() => void> = []
  constructor(
    readonly processesInOrder: boolean,
    private readonly content = Buffer.from('hello world'),
    /** What `limits@openssh.com` said; left out, as by the tests written before it mattered. */
    readonly maxReadLen?: number,
    /** Most bytes one answer carries, for a server that splits reads. */
    private readonly answerMax = Infinity
  ) {}

  private later<T>(what: string, value: () => T): Promise<T> {
    this.sent.push(what)
    return new Promise<T>((resolve, reject) =>
      this.held.push(() => {
        try {
          resolve(value())
        } catch (err) {
          reject(err)
        }
      })
    )
  }

  answerAll(): number {
    const n = this.held.length
    this.held.splice(0).forEach(answer => answer())
    return n
  }

  stat = (path: string) =>
    this.later(`stat ${path}`, () => ({ isDirectory: true, isFile: false, size: 0 }))
  mkdir = (path: string) => this.later(`mkdir ${path}`, () => undefined)
  open = (path: string) => this.later(`open ${path}`, () => Buffer.from('h'))
  close = () => this.later('close', () => undefined)
  /** As SftpChannel.readWhole: the read and the close go out together once the handle came. */
  readWhole = (path: string, buffer: Buffer, length: number) =>
    this.open(path).then(handle => {
      const got = this.read(handle, buffer, length, 0)
      return Promise.all([got, this.close()]).then(answers => answers[0])
    })
  read = (_h: Buffer, buffer: Buffer, length: number, position: number) =>
    this.later(`read ${position}+${length}`, () => {
      const part = this.content.subarray(position, position + Math.min(length, this.answerMax))
      part.copy(buffer)
      return part.length
    })
}

const asChannel = (fake: FakeChannel) => fake as unknown as SftpChannel

describe('many files in flight', () => {
  it('keeps hundreds of files in flight at once, not a few dozen', async () => {
    let inFlight = 0
    let peak = 0
    const jobs = Array.from({ length: 1000 }, (_, i) => `f${i}`)
    await runWithRetries({
      jobs,
      retries: 0,
      concurrency: 256,
      connect: async () => ({ dead: false, kill() {}, close() {} }),
      run: async (_s, job): Promise<FileResult> => {
        inFlight++
        peak = Math.max(peak, inFlight)
        await settle()
        inFlight--
        return { source: job, target: job, size: 1, status: 'transferred' }
      },
      abandoned: job => ({ source: job, target: job, size: 1, status: 'failed' })
    })
    expect(peak).toBe(256)
  })

  it('never opens more files at once than the connection says its channels allow', async () => {
    let inFlight = 0
    let peak = 0
    await runWithRetries({
      jobs: Array.from({ length: 300 }, (_, i) => `f${i}`),
      retries: 0,
      concurrency: 256,
      connect: async () => ({ dead: false, filesInFlight: 40, kill() {}, close() {} }),
      run: async (_s, job): Promise<FileResult> => {
        inFlight++
        peak = Math.max(peak, inFlight)
        await settle()
        inFlight--
        return { source: job, target: job, size: 1, status: 'transferred' }
      },
      abandoned: job => ({ source: job, target: job, size: 1, status: 'failed' })
    })
    expect(peak).toBe(40)
  })

  it('narrows to what the connection allows once it allows fewer (a near server answered)', async () => {
    jest.mocked(core.debug).mockClear()
    let inFlight = 0
    let peakLater = 0
    let started = 0
    // Files answered so far: the estimate falls twice, as it can to 512 and then to 128.
    let answered = 0
    await runWithRetries({
      jobs: Array.from({ length: 1000 }, (_, i) => `f${i}`),
      retries: 0,
      concurrency: 256,
      connect: async () => ({
        dead: false,
        get filesInFlight() {
          return answered === 0 ? 256 : answered < 300 ? 100 : 40
        },
        kill() {},
        close() {}
      }),
      run: async (_s, job): Promise<FileResult> => {
        inFlight++
        if (started++ >= 500) peakLater = Math.max(peakLater, inFlight)
        await settle()
        answered++
        inFlight--
        return { source: job, target: job, size: 1, status: 'transferred' }
      },
      abandoned: job => ({ source: job, target: job, size: 1, status: 'failed' })
    })
    expect(started).toBe(1000)
    expect(peakLater).toBe(40)
    // The log says so at each step, beside the width the round started with.
    const said = jest.mocked(core.debug).mock.calls.map(([m]) => m)
    expect(said.filter(m => m.startsWith('Files at once'))).toEqual([
      'Files at once: 256',
      'Files at once: narrowed to 100',
      'Files at once: narrowed to 40'
    ])
  })
})

describe('SftpChannel.maxOpenHandles', () => {
  const channelWith = (maxOpenHandles: number | undefined) =>
    new Channel({ on: () => undefined, maxOpenHandles } as never)

  it("uses the server's limits@openssh.com handle limit, bounded", () => {
    expect(channelWith(1019).maxOpenHandles).toBe(1019)
    expect(channelWith(Infinity).maxOpenHandles).toBe(1024)
  })

  it('falls back to a safe cap when the server does not say', () => {
    expect(channelWith(undefined).maxOpenHandles).toBe(FALLBACK_OPEN_HANDLES)
    expect(FALLBACK_OPEN_HANDLES).toBe(64)
  })
})

describe('ensureRemoteDirs', () => {
  const rels = ['a/b/c/x.txt', 'a/b/y.txt', 'd/e/z.txt', 'top.txt']

  it('sends the target path, every mkdir and their stats in one burst to an in-order server', async () => {
    const fake = new FakeChannel(true)
    const done = ensureRemoteDirs(asChannel(fake), '/t/new', rels)
    await settle()
    // Nothing waits for an answer, not even the target's own stat: one round trip in all.
    const dirs = [
      '/t',
      '/t/new',
      '/t/new/a',
      '/t/new/d',
      '/t/new/a/b',
      '/t/new/d/e',
      '/t/new/a/b/c'
    ]
    expect(fake.sent).toEqual([...dirs.map(d => `mkdir ${d}`), ...dirs.map(d => `stat ${d}`)])
    fake.answerAll()
    await expect(done).resolves.toEqual(dirs)
  })

  it('sends nothing when the listing found the target and every folder (a re-deploy)', async () => {
    const fake = new FakeChannel(true)
    const listed = new Set(['a', 'a/b', 'a/b/c', 'd', 'd/e'])
    await expect(ensureRemoteDirs(asChannel(fake), '/t/site', rels, listed)).resolves.toEqual([])
    expect(fake.sent).toEqual([])
  })

  it('creates only the folders the listing did not find', async () => {
    const fake = new FakeChannel(true)
    const done = ensureRemoteDirs(asChannel(fake), '/t/site', rels, new Set(['a', 'a/b', 'd']))
    await settle()
    expect(fake.sent.filter(r => r.startsWith('mkdir /t/site/'))).toEqual([
      'mkdir /t/site/d/e',
      'mkdir /t/site/a/b/c'
    ])
    fake.answerAll()
    await expect(done).resolves.toEqual(expect.arrayContaining(['/t/site/d/e', '/t/site/a/b/c']))
  })

  it('judges the folders above an existing target by the target alone', async () => {
    const fake = new FakeChannel(true)
    fake.mkdir = (path: string) =>
      Promise.reject(Object.assign(new Error(`exists: ${path}`), { code: 4 }))
    const realStat = fake.stat
    fake.stat = (path: string) =>
      path === '/t'
        ? Promise.reject(Object.assign(new Error('denied'), { code: 3 }))
        : realStat(path)
    const done = ensureRemoteDirs(asChannel(fake), '/t/site', ['a/x.txt'])
    await settle()
    fake.answerAll()
    await expect(done).resolves.toEqual([])
  })

  it('goes one level at a time where answers may come out of order', async () => {
    const fake = new FakeChannel(false)
    const done = ensureRemoteDirs(asChannel(fake), '/t', rels)
    await settle()
    fake.answerAll()
    await settle()
    expect(fake.sent.slice(1)).toEqual(['mkdir /t/a', 'mkdir /t/d'])
    for (let i = 0; i < 5; i++) {
      fake.answerAll()
      await settle()
    }
    await done
    expect(fake.sent).toHaveLength(6)
  })
})

describe('readWholeRemote', () => {
  it('sends the read, the end check and the close together once the handle arrives', async () => {
    const fake = new FakeChannel(true)
    const read = readWholeRemote(asChannel(fake), '/s/f', 11)
    await settle()
    expect(fake.answerAll()).toBe(1) // open
    await settle()
    expect(fake.sent).toEqual(['open /s/f', 'read 0+11', 'read 11+1', 'close'])
    fake.answerAll()
    expect((await read).toString()).toBe('hello world')
  })

  it('refuses a file longer than the listing said', async () => {
    const fake = new FakeChannel(true)
    const read = readWholeRemote(asChannel(fake), '/s/f', 5)
    await settle()
    fake.answerAll()
    await settle()
    fake.answerAll()
    await expect(read).rejects.toThrow(/longer than the 5 bytes/)
  })

  it('closes only after both reads were answered where answers may come out of order', async () => {
    const fake = new FakeChannel(false)
    const read = readWholeRemote(asChannel(fake), '/s/f', 11)
    await settle()
    fake.answerAll()
    await settle()
    expect(fake.sent).toEqual(['open /s/f', 'read 0+11', 'read 11+1'])
    fake.answerAll()
    await settle()
    fake.answerAll()
    expect((await read).length).toBe(11)
  })
})

describe('readWholeRemote on OpenSSH (in order, read limit known)', () => {
  /** Runs one read to its end, answering every request as it comes. */
  const drain = async <T>(fake: FakeChannel, read: Promise<T>) => {
    let done = false
    void read.then(
      () => (done = true),
      () => (done = true)
    )
    while (!done) {
      fake.answerAll()
      await settle()
    }
    return read
  }

  it('asks for a byte more than the size in one read, with the close, and no end probe', async () => {
    const fake = new FakeChannel(true, Buffer.from('hello world'), 261_120)
    const read = readWholeRemote(asChannel(fake), '/s/f', 11)
    await settle()
    expect(fake.answerAll()).toBe(1) // open
    await settle()
    expect(fake.sent).toEqual(['open /s/f', 'read 0+12', 'close'])
    fake.answerAll()
    const data = await read
    expect(data.toString()).toBe('hello world')
    expect(data.length).toBe(11)
  })

  it("fills the caller's buffer, which holds the extra byte", async () => {
    const fake = new FakeChannel(true, Buffer.from('hello world'), 261_120)
    const into = Buffer.alloc(12)
    const data = await drain(fake, readWholeRemote(asChannel(fake), '/s/f', 11, into))
    expect(data.buffer).toBe(into.buffer)
    expect(data.toString()).toBe('hello world')
  })

  it('refuses a file longer than listed, from that one read', async () => {
    const fake = new FakeChannel(true, Buffer.from('hello world'), 261_120)
    await expect(drain(fake, readWholeRemote(asChannel(fake), '/s/f', 10))).rejects.toThrow(
      /longer than the 10 bytes/
    )
    expect(fake.sent).toEqual(['open /s/f', 'read 0+11', 'close'])
  })

  it('reads an empty file with one read of one byte', async () => {
    const fake = new FakeChannel(true, Buffer.alloc(0), 261_120)
    expect((await drain(fake, readWholeRemote(asChannel(fake), '/s/e', 0))).length).toBe(0)
    expect(fake.sent).toEqual(['open /s/e', 'read 0+1', 'close'])
  })

  it('after a short answer, reads on and proves the end with a read of its own', async () => {
    const fake = new FakeChannel(true, Buffer.from('hello world'), 261_120, 4)
    const data = await drain(fake, readWholeRemote(asChannel(fake), '/s/f', 11))
    expect(data.toString()).toBe('hello world')
    expect(fake.sent).toContain('read 11+1')
  })

  it('after a short answer, still refuses a file longer than listed', async () => {
    const fake = new FakeChannel(true, Buffer.from('hello world!'), 261_120, 4)
    await expect(drain(fake, readWholeRemote(asChannel(fake), '/s/f', 11))).rejects.toThrow(
      /longer than the 11 bytes/
    )
  })

  it('at the read limit, keeps the separate end probe (a byte more would not fit one read)', async () => {
    const fake = new FakeChannel(true, Buffer.from('hello world'), 11)
    const data = await drain(fake, readWholeRemote(asChannel(fake), '/s/f', 11))
    expect(data.toString()).toBe('hello world')
    expect(fake.sent).toEqual(['open /s/f', 'read 0+11', 'read 11+1', 'close'])
  })
})

describe('ByteBudget', () => {
  it('holds no more bytes at once than its capacity', async () => {
    const budget = new ByteBudget(1000)
    let peak = 0
    await Promise.all(
      Array.from({ length: 50 }, () =>
        budget.use(300, async () => {
          peak = Math.max(peak, budget.inUse)
          await settle()
        })
      )
    )
    expect(peak).toBeLessThanOrEqual(1000)
    expect(peak).toBe(900)
    expect(budget.inUse).toBe(0)
  })

  it('lets a request above the capacity through alone', async () => {
    const budget = new ByteBudget(100)
    await expect(budget.use(500, async () => budget.inUse)).resolves.toBe(100)
  })
})
