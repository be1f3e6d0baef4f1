import { EventEmitter } from 'node:events'
import { jest } from '@jest/globals'
import type ssh2 from 'ssh2'

const warning = jest.fn<(message: string) => void>()
jest.unstable_mockModule('@actions/core', () => ({
  warning,
  info: jest.fn(),
  debug: jest.fn(),
  isDebug: () => false
}))

const { SessionPool } = await import('../../src/directions/session-pool.js')
const { ListingCache } = await import('../../src/engine/listing-cache.js')
const { SftpChannel } = await import('../../src/engine/sftp.js')
const { AuthenticationError, ConnectionError } = await import('../../src/errors.js')

/** A connection as the pool sees it. */
class Fake {
  dead = false
  closes = 0
  constructor(readonly id: number) {}
  kill(): void {
    this.dead = true
  }
  close(): void {
    this.closes++
    this.dead = true
  }
}

/** A pool whose opens follow a script: a Fake, or an error to throw. */
function pool(opens: Array<'ok' | Error>, retries = 3) {
  let made = 0
  const sessions: Fake[] = []
  const p = new SessionPool<Fake>('backup.example.com:22', retries, async () => {
    const next = opens[made++] ?? 'ok'
    if (next instanceof Error) throw next
    const session = new Fake(sessions.length + 1)
    sessions.push(session)
    return session
  })
  return { p, sessions, opens: () => made }
}

const lost = () => new ConnectionError('The connection was lost.', true)

beforeEach(() => warning.mockClear())

describe('SessionPool: one retry policy for every phase', () => {
  jest.setTimeout(20_000)

  it('a phase cut by a drop runs again on a new connection, and says so', async () => {
    const { p, sessions } = pool(['ok', 'ok'])
    await p.first()
    const seen: number[] = []
    const listed = await p.phase('listing /backups on backup.example.com:22', async s => {
      seen.push(s.id)
      if (s.id === 1) throw lost()
      return 'listed'
    })
    expect(listed).toBe('listed')
    expect(seen).toEqual([1, 2])
    expect(sessions[0].dead).toBe(true)
    expect(warning.mock.calls[0][0]).toMatch(
      /^Connection lost while listing \/backups on backup\.example\.com:22 .*retry 1 of 3/
    )
  })

  it('reuses the live connection from phase to phase', async () => {
    const { p, opens } = pool(['ok'])
    await p.first()
    await p.phase('a', async () => 1)
    await p.phase('b', async () => 2)
    expect(opens()).toBe(1)
  })

  it('a refused or timed-out first connection is a wrong address: not retried', async () => {
    const refused = new ConnectionError(
      'Connection to x was refused: nothing listens there.',
      false
    )
    const { p, opens } = pool([refused])
    await expect(p.first()).rejects.toBe(refused)
    expect(opens()).toBe(1)
  })

  it('once the server was reached, a refused reconnection is a server restarting: retried', async () => {
    const refused = new ConnectionError(
      'Connection to x was refused: nothing listens there.',
      false
    )
    const { p, opens } = pool(['ok', refused, 'ok'])
    const first = await p.first()
    first.kill()
    await expect(p.phase('switching the release', async s => s.id)).resolves.toBe(2)
    expect(opens()).toBe(3)
  })

  it('a login refusal is never retried, even after the server was reached', async () => {
    const rejected = new AuthenticationError('rejected')
    const { p, opens } = pool(['ok', rejected])
    const first = await p.first()
    first.kill()
    await expect(p.phase('x', async () => 1)).rejects.toBe(rejected)
    expect(opens()).toBe(2)
  })

  it('a file fault in a phase is not a reason to reconnect', async () => {
    const denied = Object.assign(new Error('Permission denied'), { code: 3 })
    const { p, opens, sessions } = pool(['ok'])
    await p.first()
    await expect(
      p.phase('x', async () => {
        throw denied
      })
    ).rejects.toBe(denied)
    expect(opens()).toBe(1)
    expect(sessions[0].dead).toBe(false)
  })

  it('closeAll ends every connection it made', async () => {
    const { p, sessions } = pool(['ok', 'ok'])
    await p.first()
    await p.phase('x', async s => {
      if (s.id === 1) throw lost()
    })
    p.closeAll()
    expect(sessions.map(s => s.closes)).toEqual([1, 1])
  })
})

/** A stand-in for ssh2's SFTP wrapper: answers stat and readdir from a script. */
class FakeSftp extends EventEmitter {
  calls: string[] = []
  private readonly listings = new Map<string, unknown>()
  constructor(private readonly answer: (op: string, path: string) => Error | unknown) {
    super()
  }
  stat(path: string, cb: (err: Error | undefined, value?: unknown) => void): void {
    this.reply('stat', path, cb)
  }
  /** A folder is listed through a handle: its entries in one batch, then the end (EOF). */
  opendir(path: string, cb: (err: Error | undefined, value?: unknown) => void): void {
    this.calls.push(`readdir ${path}`)
    const value = this.answer('readdir', path)
    if (!(value instanceof Error)) this.listings.set(path, value)
    setImmediate(() => (value instanceof Error ? cb(value) : cb(undefined, Buffer.from(path))))
  }
  readdir(handle: Buffer, cb: (err: Error | undefined, value?: unknown) => void): void {
    const path = handle.toString()
    const batch = this.listings.get(path)
    this.listings.delete(path)
    const eof = Object.assign(new Error('EOF'), { code: 1 })
    setImmediate(() => (batch === undefined ? cb(eof) : cb(undefined, batch)))
  }
  close(_handle: Buffer, cb: (err?: Error) => void): void {
    setImmediate(() => cb())
  }
  private reply(op: string, path: string, cb: (err: Error | undefined, v?: unknown) => void) {
    this.calls.push(`${op} ${path}`)
    const value = this.answer(op, path)
    setImmediate(() => (value instanceof Error ? cb(value) : cb(undefined, value)))
  }
}

const channelOver = (sftp: FakeSftp) => new SftpChannel(sftp as unknown as ssh2.SFTPWrapper)

describe('SftpChannel: a request the network failed is a ConnectionError', () => {
  it("ssh2's no-response error becomes a transient ConnectionError", async () => {
    const channel = channelOver(new FakeSftp(() => new Error('No response from server')))
    const err = await channel.stat('/x').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ConnectionError)
    expect((err as InstanceType<typeof ConnectionError>).transient).toBe(true)
  })

  it('an SFTP status (no such file) stays what it is', async () => {
    const missing = Object.assign(new Error('No such file'), { code: 2 })
    const channel = channelOver(new FakeSftp(() => missing))
    await expect(channel.stat('/x')).rejects.toBe(missing)
  })
})

describe('ListingCache', () => {
  it("hands every listing, cached or not, to the walker's limit check", async () => {
    const sftp = new FakeSftp(op =>
      op === 'stat'
        ? { mode: 0o040755, size: 0, mtime: 1 }
        : [{ filename: 'f', longname: '', attrs: { mode: 0o100644, size: 1, mtime: 1 } }]
    )
    const cache = new ListingCache()
    const seen: string[][] = []
    await cache.on(channelOver(sftp)).readdir('/a', names => seen.push([...names]))
    await cache.on(channelOver(sftp)).readdir('/a', names => seen.push([...names]))
    expect(seen).toEqual([['f'], ['f']])
    expect(sftp.calls).toEqual(['readdir /a'])
  })

  it('keeps what was read across attempts, and never a failure', async () => {
    let fail = true
    const sftp = new FakeSftp((op, path) => {
      if (op === 'stat') return { mode: 0o040755, size: 0, mtime: 1 }
      if (path === '/b' && fail) return new Error('No response from server')
      return [{ filename: 'f', longname: '', attrs: { mode: 0o100644, size: 1, mtime: 1 } }]
    })
    const cache = new ListingCache()
    const lister = cache.on(channelOver(sftp))
    await lister.stat('/a')
    await lister.readdir('/a')
    await expect(lister.readdir('/b')).rejects.toBeInstanceOf(ConnectionError)
    fail = false
    const again = cache.on(channelOver(sftp))
    await again.stat('/a')
    await again.readdir('/a')
    expect((await again.readdir('/b')).map(e => e.name)).toEqual(['f'])
    expect(sftp.calls).toEqual(['stat /a', 'readdir /a', 'readdir /b', 'readdir /b'])
  })
})
