import { EventEmitter } from 'node:events'
import type ssh2 from 'ssh2'
import { BufferReader, copyRange, Watermark } from '../../src/engine/chunks.js'
import { Liveness } from '../../src/engine/liveness.js'
import { FORWARDED_BYTES_IN_FLIGHT, RemoteFileWriter } from '../../src/engine/remote-file.js'
import { RemoteFileReader } from '../../src/engine/remote-reader.js'
import { SFTP_STATUS, SftpChannel } from '../../src/engine/sftp.js'

type Callback = (err: Error | null | undefined, value?: unknown) => void

/** One server's files, as a backend behind a load balancer holds them. */
class Backend {
  readonly files = new Map<string, { data: Buffer; mtime: number }>()
  readonly open = new Map<string, string>()
  /** Every request received, in order. */
  readonly requests: string[] = []
  /** Set to refuse attribute changes with this error. */
  refuseAttributes?: Error
  /** How long reads and writes on a connection take to be answered (none: at once). */
  readonly delayMs = new Map<Liveness, number>()
  /** Bytes read or written per connection. */
  readonly bytes = new Map<Liveness, number>()
  /** While set, answers to opens and stats wait here until released (one round trip). */
  held?: Array<() => void>
  private next = 0

  /** Answers an open or a stat now, or once the round trip it is part of ends. */
  private control(reply: () => void): void {
    if (this.held) this.held.push(reply)
    else reply()
  }

  /** Bytes of reads and writes not answered yet per connection, and the most there ever were. */
  readonly inFlight = new Map<Liveness, number>()
  readonly peakInFlight = new Map<Liveness, number>()

  private answer(liveness: Liveness, bytes: number, reply: () => void): void {
    this.bytes.set(liveness, (this.bytes.get(liveness) ?? 0) + bytes)
    const delay = this.delayMs.get(liveness)
    if (delay === undefined) return reply()
    const now = (this.inFlight.get(liveness) ?? 0) + bytes
    this.inFlight.set(liveness, now)
    this.peakInFlight.set(liveness, Math.max(now, this.peakInFlight.get(liveness) ?? 0))
    setTimeout(() => {
      this.inFlight.set(liveness, (this.inFlight.get(liveness) ?? 0) - bytes)
      reply()
    }, delay)
  }

  /** An SFTP channel on a connection (`liveness`) that reached this backend. */
  channel(liveness: Liveness, openssh = false, maxLength = 4): SftpChannel {
    const sftp = Object.assign(new EventEmitter(), {
      _maxReadLen: maxLength,
      _maxWriteLen: maxLength,
      _isOpenSSH: openssh,
      open: (path: string, flags: string, cb: Callback) => {
        this.requests.push('open')
        this.control(() => {
          if (flags === 'w') this.files.set(path, { data: Buffer.alloc(0), mtime: 1000 })
          else if (!this.files.has(path)) return cb(missing(path))
          const handle = `h${this.next++}`
          this.open.set(handle, path)
          cb(undefined, Buffer.from(handle))
        })
      },
      fstat: (handle: Buffer, cb: Callback) => {
        this.requests.push('fstat')
        this.control(() => {
          const file = this.fileOf(handle)
          cb(undefined, { size: file.data.length, mtime: file.mtime, mode: 0o100644 })
        })
      },
      read: (h: Buffer, buf: Buffer, off: number, len: number, pos: number, cb: Callback) => {
        const n = this.fileOf(h).data.copy(buf, off, pos, pos + len)
        this.answer(liveness, n, () => cb(undefined, n))
      },
      write: (h: Buffer, data: Buffer, off: number, len: number, pos: number, cb: Callback) => {
        const file = this.fileOf(h)
        const end = Math.max(file.data.length, pos + len)
        const grown = Buffer.alloc(end)
        file.data.copy(grown)
        data.copy(grown, pos, off, off + len)
        file.data = grown
        this.answer(liveness, len, () => cb(undefined))
      },
      stat: (path: string, cb: Callback) => {
        this.requests.push('stat')
        this.control(() => {
          const file = this.files.get(path)
          if (!file) return cb(missing(path))
          cb(undefined, { size: file.data.length, mtime: file.mtime, mode: 0o100644 })
        })
      },
      fsetstat: (handle: Buffer, attrs: { mtime?: number }, cb: Callback) => {
        this.requests.push('fsetstat')
        const file = this.fileOf(handle)
        if (this.refuseAttributes) return cb(this.refuseAttributes)
        if (attrs.mtime !== undefined) file.mtime = attrs.mtime
        cb(undefined)
      },
      close: (handle: Buffer, cb: Callback) => {
        this.requests.push('close')
        this.open.delete(handle.toString())
        cb(undefined)
      }
    })
    return new SftpChannel(sftp as unknown as ssh2.SFTPWrapper, liveness)
  }

  private fileOf(handle: Buffer) {
    const file = this.files.get(this.open.get(handle.toString()) ?? '')
    if (!file) throw new Error(`stale handle ${handle.toString()}`)
    return file
  }
}

function missing(path: string): Error {
  return Object.assign(new Error(`No such file: ${path}`), { code: SFTP_STATUS.NO_SUCH_FILE })
}

async function readAll(reader: RemoteFileReader, size: number): Promise<Buffer> {
  const parts: Buffer[] = []
  for (let offset = 0; offset < size; offset += reader.chunkSize)
    parts.push(await reader.read(offset, Math.min(reader.chunkSize, size - offset)))
  return Buffer.concat(parts)
}

describe('a file spread over connections that reached different backends', () => {
  const primary = new Liveness()
  const same = new Liveness()
  const other = new Liveness()

  it('reads only through lanes that see the same file (size and mtime)', async () => {
    const a = new Backend()
    const b = new Backend()
    const content = Buffer.from('abcdefghijklmnopqrstuvwxyz012345')
    a.files.set('/big', { data: content, mtime: 100 })
    // Another version on another backend: same size, other mtime and bytes.
    b.files.set('/big', { data: Buffer.alloc(content.length, 'X'), mtime: 200 })
    const lanes = [a.channel(primary), b.channel(other), a.channel(primary), a.channel(same)]

    const reader = await RemoteFileReader.open(lanes, '/big')
    expect(reader.lanes).toBe(3)
    expect((await readAll(reader, content.length)).toString()).toBe(content.toString())
    await reader.close()
    // Let the dropped lane's close (not awaited) arrive.
    await new Promise(resolve => setImmediate(resolve))
    expect(b.open.size).toBe(0)
    expect(a.open.size).toBe(0)
  })

  it('drops an extra lane whose backend lacks the temporary file, and writes through the rest', async () => {
    const a = new Backend()
    const b = new Backend()
    const lanes = [a.channel(primary), b.channel(other), a.channel(same)]

    const writer = await RemoteFileWriter.open(lanes, '/.tmp-big', false)
    expect(writer.lanes).toBe(2)
    const data = Buffer.from('0123456789abcdefghij')
    for (let offset = 0; offset < data.length; offset += writer.chunkSize)
      await writer.write(offset, data.subarray(offset, offset + writer.chunkSize))
    const landed = await writer.finish()
    expect(landed.size).toBe(data.length)
    expect(a.files.get('/.tmp-big')?.data.toString()).toBe(data.toString())
    expect(b.files.has('/.tmp-big')).toBe(false)
  })

  it('still fails when a lane on the first connection cannot open the file', async () => {
    const a = new Backend()
    a.files.set('/gone', { data: Buffer.from('x'), mtime: 1 })
    // Stands for the file vanishing between the two opens on one connection.
    const lanes = [a.channel(primary), new Backend().channel(primary)]
    await expect(RemoteFileReader.open(lanes, '/gone')).rejects.toMatchObject({
      code: SFTP_STATUS.NO_SUCH_FILE
    })
    expect(a.open.size).toBe(0)
  })
})

describe('opening a file on several connections to one server (behind a jump host)', () => {
  /** Round trips `opening` takes: each releases every answer to the requests sent so far. */
  async function roundTrips(server: Backend, opening: () => Promise<unknown>): Promise<number> {
    server.held = []
    let done = false
    const opened = opening().finally(() => (done = true))
    let trips = 0
    for (; trips < 10; trips++) {
      await new Promise(resolve => setImmediate(resolve))
      if (done) break
      const replies = server.held.splice(0)
      for (const reply of replies) reply()
    }
    server.held = undefined
    await opened
    return trips
  }

  function lanesOn(server: Backend): SftpChannel[] {
    const [first, second] = [new Liveness(), new Liveness()]
    return [first, second, first, second].map(l => server.channel(l, true))
  }

  it('a read opens every lane and checks which file each connection sees in one round trip', async () => {
    const server = new Backend()
    server.files.set('/big', { data: Buffer.from('0123456789'), mtime: 7 })
    let reader: RemoteFileReader | undefined
    const trips = await roundTrips(server, async () => {
      reader = await RemoteFileReader.open(lanesOn(server), '/big')
    })
    expect(trips).toBe(1)
    expect(reader?.lanes).toBe(4)
  })

  it('a write takes two: the first open creates the file, the others open and check it', async () => {
    const server = new Backend()
    let writer: RemoteFileWriter | undefined
    const trips = await roundTrips(server, async () => {
      writer = await RemoteFileWriter.open(lanesOn(server), '/.tmp-big', false)
    })
    expect(trips).toBe(2)
    expect(writer?.lanes).toBe(4)
  })
})

describe('a file spread over several connections to one server (behind a jump host)', () => {
  const size = 4 * 300
  const content = Buffer.from(Array.from({ length: size }, (_, i) => i % 251))

  /** One lane on a connection answering at once, three on one answering every 15 ms. */
  function setup() {
    const server = new Backend()
    const quick = new Liveness()
    const slow = new Liveness()
    server.delayMs.set(quick, 1)
    server.delayMs.set(slow, 15)
    const lanes = [server.channel(quick), server.channel(slow), server.channel(slow)]
    lanes.push(server.channel(slow))
    return { server, quick, slow, lanes }
  }

  it('gives each connection what it can carry: the quicker one takes more of the file', async () => {
    const { server, quick, slow, lanes } = setup()
    const writer = await RemoteFileWriter.open(lanes, '/.tmp-big', false)
    const reader = new BufferReader(content)
    await copyRange(reader, writer, size, new Watermark(), () => undefined)
    await writer.finish()
    expect(server.files.get('/.tmp-big')?.data.equals(content)).toBe(true)
    // Striped, the slow connection's three lanes would have taken three quarters of the file.
    // (Only more than the slow one is asserted: timers drift on a loaded machine.)
    expect(server.bytes.get(quick) ?? 0).toBeGreaterThan(server.bytes.get(slow) ?? 0)
  })

  it('reads the same way', async () => {
    const { server, quick, slow, lanes } = setup()
    server.files.set('/big', { data: content, mtime: 5 })
    const reader = await RemoteFileReader.open(lanes, '/big')
    const got = Buffer.alloc(size)
    const sink = {
      chunkSize: 4,
      lanes: 1,
      write: async (at: number, d: Buffer) => void d.copy(got, at)
    }
    await copyRange(reader, sink, size, new Watermark(), () => undefined)
    await reader.close()
    expect(got.equals(content)).toBe(true)
    expect(server.bytes.get(quick) ?? 0).toBeGreaterThan(server.bytes.get(slow) ?? 0)
  })
})

describe('writing a file through several connections behind a jump host', () => {
  it('keeps at most FORWARDED_BYTES_IN_FLIGHT of it in flight on each connection', async () => {
    // Each connection rides one forwarded channel, which carries about 2 MiB per round trip:
    // what is sent past twice that only waits in ssh2's buffers (see remote-file.ts).
    const server = new Backend()
    const [first, second] = [new Liveness(), new Liveness()]
    server.delayMs.set(first, 5)
    server.delayMs.set(second, 5)
    const chunk = FORWARDED_BYTES_IN_FLIGHT / 8
    // Four lanes keep 32 requests (16 MiB) in flight: twice what two connections may carry.
    const lanes = [first, second, first, second].map(l => server.channel(l, true, chunk))
    const size = 6 * FORWARDED_BYTES_IN_FLIGHT + 1000
    const content = Buffer.alloc(size)
    for (let i = 0; i < size; i += 4096) content.writeUInt32BE(i, i)
    const writer = await RemoteFileWriter.open(lanes, '/.tmp-big', false)
    await copyRange(new BufferReader(content), writer, size, new Watermark(), () => undefined)
    await writer.finish()
    expect(server.files.get('/.tmp-big')?.data.equals(content)).toBe(true)
    for (const connection of [first, second]) {
      expect(server.peakInFlight.get(connection)).toBeLessThanOrEqual(FORWARDED_BYTES_IN_FLIGHT)
      // Still spread: each connection had more than one request going at once.
      expect(server.peakInFlight.get(connection)).toBeGreaterThan(chunk)
    }
  })
})

describe('finishing a written file on a server that answers in order (OpenSSH)', () => {
  const write = async (
    backend: Backend,
    attrs?: { atime: number; mtime: number },
    whole?: { size: number; clock: boolean }
  ) => {
    const writer = await RemoteFileWriter.open([backend.channel(new Liveness(), true)], '/t', false)
    await writer.write(0, Buffer.from('abc'))
    backend.requests.length = 0
    return writer.finish(attrs, whole)
  }

  it('sends only the times and the close for a file written whole when no clock is wanted', async () => {
    const backend = new Backend()
    const landed = await write(backend, { atime: 40, mtime: 50 }, { size: 3, clock: false })
    // The acknowledged single write after the truncating open is the size check.
    expect(backend.requests).toEqual(['fsetstat', 'close'])
    expect(landed).toMatchObject({ size: 3, mtime: 50, atime: 40, isFile: true })
    expect(landed.writtenAt).toBeUndefined()
    expect(backend.files.get('/t')?.mtime).toBe(50)
  })

  it('still reads the clock with the stat when the folder wants a reading', async () => {
    const backend = new Backend()
    const landed = await write(backend, { atime: 40, mtime: 50 }, { size: 3, clock: true })
    expect(backend.requests).toEqual(['fstat', 'fsetstat', 'close'])
    expect(landed).toMatchObject({ size: 3, mtime: 50, writtenAt: 1000 })
  })

  it("still stats a file written whole when no times are set (its mtime is the server's)", async () => {
    const backend = new Backend()
    const landed = await write(backend, undefined, { size: 3, clock: false })
    expect(backend.requests).toEqual(['fstat', 'close'])
    expect(landed).toMatchObject({ size: 3, mtime: 1000 })
  })

  it('stats the closed file for its real mtime when the server refuses the times', async () => {
    const backend = new Backend()
    backend.refuseAttributes = Object.assign(new Error('denied'), { code: 3 })
    const landed = await write(backend, { atime: 40, mtime: 50 }, { size: 3, clock: false })
    expect(backend.requests).toEqual(['fsetstat', 'close', 'stat'])
    expect(landed).toMatchObject({ size: 3, mtime: 1000, writtenAt: 1000 })
    expect(landed.attrsError?.message).toBe('denied')
  })

  it('checks the size and reads the clock with one stat, before the times are set', async () => {
    const backend = new Backend()
    const landed = await write(backend, { atime: 40, mtime: 50 })
    // One request fewer per file than a stat for the clock and another for the check.
    expect(backend.requests).toEqual(['fstat', 'fsetstat', 'close'])
    expect(landed).toMatchObject({ size: 3, mtime: 50, atime: 40, writtenAt: 1000 })
    expect(landed.attrsError).toBeUndefined()
    expect(backend.files.get('/t')?.mtime).toBe(50)
  })

  it('reports the time the file was written when the server refuses to set times', async () => {
    const backend = new Backend()
    backend.refuseAttributes = Object.assign(new Error('denied'), { code: 3 })
    const landed = await write(backend, { atime: 40, mtime: 50 })
    expect(landed).toMatchObject({ size: 3, mtime: 1000, writtenAt: 1000 })
    expect(landed.attrsError?.message).toBe('denied')
  })
})
