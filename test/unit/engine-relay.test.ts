import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { buffers, hasWriteHeadroom, WRITE_HEADROOM } from '../../src/engine/buffer-pool.js'
import { requestBudget } from '../../src/engine/chunks.js'
import { RelayPair, relayFiles } from '../../src/engine/relay.js'
import { NEAR_LINK_FILES, VERY_NEAR_LINK_FILES } from '../../src/engine/link-width.js'
import type { SftpSession } from '../../src/engine/session.js'
import { uploadFiles } from '../../src/engine/upload.js'
import type { RemoteFile } from '../../src/plans/remote-files.js'

const CHUNK = 32 * 1024
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex')

/** One in-memory file system, served by any number of fake SFTP channels. */
class Disk {
  readonly files = new Map<string, Buffer>()
  readonly dirs = new Set<string>(['/'])
}

/** An SFTP channel over a Disk that answers in order, a tick later, and counts its reads. */
function fakeChannel(disk: Disk, connection: object) {
  const handles = new Map<string, string>()
  let next = 0
  const later = <T>(answer: () => T): Promise<T> =>
    new Promise((resolve, reject) =>
      setImmediate(() => {
        try {
          resolve(answer())
        } catch (err) {
          reject(err as Error)
        }
      })
    )
  const fileOf = (handle: Buffer) => disk.files.get(handles.get(handle.toString()) as string)
  const noSuch = () => Object.assign(new Error('No such file'), { code: 2 })
  const channel = {
    reads: 0,
    connection,
    maxReadLen: CHUNK,
    maxWriteLen: CHUNK,
    maxOpenHandles: 64,
    processesInOrder: true,
    sharesConnectionWith: (other: { connection: object }) => other.connection === connection,
    open: (path: string, flags: string) =>
      later(() => {
        if (flags === 'w') disk.files.set(path, Buffer.alloc(0))
        if (!disk.files.has(path)) throw noSuch()
        const handle = String(next++)
        handles.set(handle, path)
        return Buffer.from(handle)
      }),
    close: (handle: Buffer) => later(() => void handles.delete(handle.toString())),
    read: (handle: Buffer, buffer: Buffer, length: number, position: number) =>
      later(() => {
        channel.reads++
        const data = fileOf(handle) as Buffer
        return data.copy(buffer, 0, position, Math.min(data.length, position + length))
      }),
    readWhole: (path: string, buffer: Buffer, length: number): Promise<number> =>
      channel.open(path, 'r').then(handle => {
        const got = channel.read(handle, buffer, length, 0)
        return Promise.all([got, channel.close(handle)]).then(answers => answers[0])
      }),
    write: (handle: Buffer, data: Buffer, position: number) =>
      later(() => {
        const path = handles.get(handle.toString()) as string
        const old = disk.files.get(path) as Buffer
        const grown = Buffer.alloc(Math.max(old.length, position + data.length))
        old.copy(grown)
        data.copy(grown, position)
        disk.files.set(path, grown)
      }),
    fstat: (handle: Buffer) => later(() => ({ size: (fileOf(handle) as Buffer).length, mtime: 1 })),
    fsetstat: () => later(() => undefined),
    stat: (path: string) =>
      later(() => {
        if (disk.dirs.has(path)) return { isDirectory: true, isFile: false, size: 0, mtime: 1 }
        const data = disk.files.get(path)
        if (!data) throw noSuch()
        return { isDirectory: false, isFile: true, size: data.length, mtime: 1 }
      }),
    mkdir: (path: string) => later(() => void disk.dirs.add(path)),
    readdir: () => later(() => []),
    setstat: () => later(() => undefined),
    unlink: (path: string) => later(() => void disk.files.delete(path)),
    replace: (from: string, to: string) =>
      later(() => {
        disk.files.set(to, disk.files.get(from) as Buffer)
        disk.files.delete(from)
      })
  }
  return channel
}

type FakeChannel = ReturnType<typeof fakeChannel>

/**
 * A connection with two channels of its own. Admitting a big file opens two more lanes (as
 * extra connections behind a jump host do); lanesFor spreads a big file over every lane open
 * at the time it is asked.
 */
function fakeSession(disk: Disk) {
  const connection = {}
  const own = [fakeChannel(disk, connection), fakeChannel(disk, connection)]
  const extra = [fakeChannel(disk, connection), fakeChannel(disk, connection)]
  let widened = false
  const session = {
    channels: own,
    main: own[0],
    extra,
    server: 'fake',
    budget: requestBudget(),
    filesInFlight: 64,
    openFilesAllowed: 64,
    roundTrip: 0.2,
    dead: false,
    fatal: undefined,
    kill: () => undefined,
    close: () => undefined,
    admit: <T>(size: number, work: () => Promise<T>) => {
      if (size > CHUNK) widened = true
      return work()
    },
    lanesFor: (size: number) => (size > CHUNK ? (widened ? [...own, ...extra] : own) : [own[0]])
  }
  return session
}

type FakeSession = ReturnType<typeof fakeSession>

/** Relays one file of `data` from /src to /dst between two fake servers, `setUp` first. */
async function relayOne(
  name: string,
  data: Buffer,
  setUp?: (from: FakeSession, to: FakeSession) => void
) {
  const source = new Disk()
  const destination = new Disk()
  source.dirs.add('/src')
  source.files.set(`/src/${name}`, data)
  destination.dirs.add('/dst')
  const from = fakeSession(source)
  const to = fakeSession(destination)
  setUp?.(from, to)
  const pair = new RelayPair(from as unknown as SftpSession, to as unknown as SftpSession)
  const file: RemoteFile = { path: `/src/${name}`, rel: name, size: data.length, mtime: 1 }
  const results = await relayFiles(async () => pair, '/dst', [file], {
    concurrency: 4,
    retries: 0,
    onBytes: () => undefined,
    verifySha256: false
  })
  return { results, from, landed: destination.files.get(`/dst/${name}`) as Buffer }
}

/** Gives every channel of both servers reads and writes of `request` bytes. */
function withRequestSize(request: number, ...sessions: FakeSession[]): void {
  for (const c of sessions.flatMap(s => [...s.channels, ...s.extra])) {
    Object.assign(c, { maxReadLen: request, maxWriteLen: request })
  }
}

describe('relayFiles', () => {
  it('reads a big file over the lanes its source opened when admitting it', async () => {
    const data = randomBytes(16 * CHUNK + 7)
    const { results, from, landed } = await relayOne('big.bin', data)
    expect(results.map(r => r.status)).toEqual(['transferred'])
    expect(sha256(landed)).toBe(sha256(data))
    // Lanes chosen before admitting would have left the extra lanes idle.
    const extraReads = from.extra.map((c: FakeChannel) => c.reads)
    expect(extraReads.every(n => n > 0)).toBe(true)
  })

  it('hands the destination each chunk with room for its WRITE header in front', async () => {
    // OpenSSH's request size: a chunk and its room share one size class of the buffer pool.
    const request = 261_120
    const data = randomBytes(5 * request + 11)
    const roomy: boolean[] = []
    const { results, landed } = await relayOne('big.bin', data, (from, to) => {
      withRequestSize(request, from, to)
      for (const c of [...to.channels, ...to.extra]) {
        const write = c.write
        c.write = (handle: Buffer, chunk: Buffer, position: number) => {
          roomy.push(hasWriteHeadroom(chunk) && chunk.byteOffset >= WRITE_HEADROOM)
          return write(handle, chunk, position)
        }
      }
    })
    expect(results.map(r => r.status)).toEqual(['transferred'])
    expect(sha256(landed)).toBe(sha256(data))
    expect(roomy).toHaveLength(6)
    expect(roomy.every(Boolean)).toBe(true)
  })

  // The WRITE of a chunk with room in front is sent from the chunk's own memory, maybe later
  // (when the channel's window opens): the pool must not hand that memory out meanwhile.
  it('keeps a one-request chunk out of the pool until its in-place WRITE is answered', async () => {
    const data = randomBytes(300_000)
    const handedOut: boolean[] = []
    const { results, landed } = await relayOne('one.bin', data, (from, to) => {
      withRequestSize(400_000, from, to)
      for (const c of [...to.channels, ...to.extra]) {
        const write = c.write
        c.write = (handle: Buffer, chunk: Buffer, position: number) => {
          const inPlace = hasWriteHeadroom(chunk)
          return write(handle, chunk, position).then(async () => {
            // The answer comes a while after the request (and behind the close sent after it).
            await new Promise(resolve => setImmediate(resolve))
            const other = buffers.take(chunk.length, WRITE_HEADROOM)
            if (inPlace) handedOut.push(other.buffer === chunk.buffer)
          })
        }
      }
    })
    expect(results.map(r => [r.status, r.error])).toEqual([['transferred', undefined]])
    expect(sha256(landed)).toBe(sha256(data))
    expect(handedOut).toEqual([false])
  })

  it('relays many small files and keeps no temporary file', async () => {
    const source = new Disk()
    const destination = new Disk()
    source.dirs.add('/src')
    destination.dirs.add('/dst')
    const files: RemoteFile[] = Array.from({ length: 50 }, (_, i) => {
      const data = randomBytes(100 + i)
      source.files.set(`/src/f${i}`, data)
      return { path: `/src/f${i}`, rel: `f${i}`, size: data.length, mtime: 1 }
    })
    const pair = new RelayPair(
      fakeSession(source) as unknown as SftpSession,
      fakeSession(destination) as unknown as SftpSession
    )
    const results = await relayFiles(async () => pair, '/dst', files, {
      concurrency: 16,
      retries: 0,
      onBytes: () => undefined,
      verifySha256: false
    })
    expect(results.filter(r => r.status === 'transferred')).toHaveLength(50)
    expect([...destination.files.keys()].sort()).toEqual(files.map(f => `/dst/${f.rel}`).sort())
    for (const f of files) {
      expect(
        (destination.files.get(`/dst/${f.rel}`) as Buffer).equals(
          source.files.get(f.path) as Buffer
        )
      ).toBe(true)
    }
  })
})

describe('relayFiles over several destination channels', () => {
  /** A destination of four channels that says, per channel, the folders of the files it wrote. */
  function watchedDestination(destination: Disk) {
    const to = fakeSession(destination)
    // Four channels, 16 files in flight: a folder keeps to one until it holds 8.
    to.channels.push(...to.extra)
    const seen = to.channels.map(() => new Set<string>())
    to.channels.forEach((channel, i) => {
      const open = channel.open
      channel.open = (path: string, flags: string) => {
        if (flags === 'w') seen[i].add(path.slice(0, path.lastIndexOf('/')))
        return open(path, flags)
      }
    })
    // As SftpSession.lanesFor does for a small file: its turn picks the channel.
    to.lanesFor = (_size: number, turn = 0) => [to.channels[turn % to.channels.length]]
    return { to, seen }
  }

  /** Relays `rels` and says, per destination channel, the folders its temporary files were in. */
  async function foldersPerChannel(rels: string[], concurrency: number): Promise<Set<string>[]> {
    const source = new Disk()
    const destination = new Disk()
    const files: RemoteFile[] = rels.map(rel => {
      source.files.set(`/src/${rel}`, randomBytes(50))
      return { path: `/src/${rel}`, rel, size: 50, mtime: 1 }
    })
    const { to, seen } = watchedDestination(destination)
    const pair = new RelayPair(
      fakeSession(source) as unknown as SftpSession,
      to as unknown as SftpSession
    )
    const results = await relayFiles(async () => pair, '/dst', files, {
      concurrency,
      retries: 0,
      onBytes: () => undefined,
      verifySha256: false
    })
    expect(results.filter(r => r.status === 'transferred')).toHaveLength(rels.length)
    return seen
  }

  it("writes each folder's files on one channel, and uses every channel", async () => {
    const rels = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].flatMap(dir =>
      Array.from({ length: 5 }, (_, i) => `${dir}/f${i}`)
    )
    const seen = await foldersPerChannel(rels, 16)
    expect(seen.every(s => s.size > 0)).toBe(true)
    const all = seen.flatMap(s => [...s])
    expect(all.sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map(d => `/dst/${d}`))
  })

  it('spreads one big folder over more channels once one holds twice its share', async () => {
    const seen = await foldersPerChannel(
      Array.from({ length: 60 }, (_, i) => `flat/f${i}`),
      16
    )
    expect(seen.filter(s => s.has('/dst/flat')).length).toBeGreaterThan(1)
  })

  it("uploads each folder's files on one channel too", async () => {
    const local = mkdtempSync(path.join(tmpdir(), 'turns-'))
    try {
      const dirs = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']
      const files = dirs.flatMap(dir => {
        mkdirSync(path.join(local, dir))
        return Array.from({ length: 5 }, (_, i) => {
          const file = path.join(local, dir, `f${i}`)
          writeFileSync(file, randomBytes(50))
          return { path: file, rel: `${dir}/f${i}`, size: 50 }
        })
      })
      const destination = new Disk()
      const { to, seen } = watchedDestination(destination)
      const results = await uploadFiles(async () => to as unknown as SftpSession, '/dst', files, {
        concurrency: 16,
        retries: 0,
        onBytes: () => undefined,
        verifySha256: false
      })
      expect(results.filter(r => r.status === 'transferred')).toHaveLength(40)
      expect(seen.every(s => s.size > 0)).toBe(true)
      expect(seen.flatMap(s => [...s]).sort()).toEqual(dirs.map(d => `/dst/${d}`))
    } finally {
      rmSync(local, { recursive: true, force: true })
    }
  })
})

describe('RelayPair.filesInFlight', () => {
  const end = (openFilesAllowed: number, roundTrip: number) =>
    ({ openFilesAllowed, roundTrip }) as unknown as SftpSession

  it('lets the farther server decide, within the tighter handle limit', () => {
    expect(new RelayPair(end(2000, 0.2), end(1500, 50)).filesInFlight).toBe(1500)
    expect(new RelayPair(end(2000, 50), end(1500, 0.2)).filesInFlight).toBe(1500)
    expect(new RelayPair(end(2000, 0.2), end(1500, 0.3)).filesInFlight).toBe(VERY_NEAR_LINK_FILES)
    expect(new RelayPair(end(2000, 0.2), end(1500, 12)).filesInFlight).toBe(NEAR_LINK_FILES)
    expect(new RelayPair(end(100, 0.2), end(1500, 0.3)).filesInFlight).toBe(100)
  })
})
