import type { SftpChannel } from '../../src/engine/sftp.js'
import { StateBook } from '../../src/engine/sync-state.js'
import { parseState } from '../../src/plans/state-format.js'

/** Lets every queued promise callback run. */
const settle = () => new Promise<void>(r => setImmediate(r))

/** An in-order server that answers at once and keeps the files it was given. */
class MemoryChannel {
  readonly processesInOrder = true
  readonly maxWriteLen = 1024
  readonly files = new Map<string, Buffer>()
  renames = 0
  opens = 0
  private readonly open_ = new Map<string, string>()

  open = async (path: string) => {
    this.opens++
    const handle = `h${this.open_.size}`
    this.open_.set(handle, path)
    this.files.set(path, Buffer.alloc(0))
    return Buffer.from(handle)
  }
  write = async (h: Buffer, data: Buffer, position: number) => {
    const path = this.open_.get(h.toString()) as string
    const old = this.files.get(path) as Buffer
    const out = Buffer.alloc(Math.max(old.length, position + data.length))
    old.copy(out)
    data.copy(out, position)
    this.files.set(path, out)
  }
  fstat = async (h: Buffer) => ({
    size: this.files.get(this.open_.get(h.toString()) as string)?.length
  })
  close = async () => undefined
  unlink = async (path: string) => void this.files.delete(path)
  replace = async (from: string, to: string) => {
    this.renames++
    this.files.set(to, this.files.get(from) as Buffer)
    this.files.delete(from)
  }
}

const entry = (n: number) => ({
  sha256: n.toString(16).padStart(64, '0'),
  size: n,
  mtime: 1000 + n
})
const STATE = '/srv/www/.pinned-sftp-state.json'

describe('StateBook', () => {
  // The state's own round trips then overlap the upload's winding up (leftover temps, modes).
  it('writes the state once the awaited files are recorded, before stop()', async () => {
    const channel = new MemoryChannel()
    const book = new StateBook(undefined, '/srv/www')
    book.flushWhenRecorded(2, () => channel as unknown as SftpChannel)
    book.record('a', entry(1))
    await settle()
    expect(channel.renames).toBe(0)
    book.record('b', entry(2))
    await settle()
    await settle()
    expect(channel.renames).toBe(1)
    const written = parseState((channel.files.get(STATE) as Buffer).toString())
    expect([...written.files.keys()]).toEqual(['a', 'b'])
    // Nothing changed since: stop() writes nothing more.
    await book.stop(channel as unknown as SftpChannel)
    expect(channel.renames).toBe(1)
    expect([...channel.files.keys()]).toEqual([STATE])
  })

  it('opens the temporary file while the files move, and writes the state into it', async () => {
    const channel = new MemoryChannel()
    const book = new StateBook(undefined, '/srv/www')
    book.flushWhenRecorded(1, () => channel as unknown as SftpChannel)
    await settle()
    expect(channel.opens).toBe(1)
    book.record('a', entry(1))
    await book.stop(channel as unknown as SftpChannel)
    expect(channel.opens).toBe(1)
    expect([...channel.files.keys()]).toEqual([STATE])
    const written = parseState((channel.files.get(STATE) as Buffer).toString())
    expect([...written.files.keys()]).toEqual(['a'])
  })

  it('removes the temporary file opened ahead when no file landed', async () => {
    const channel = new MemoryChannel()
    const book = new StateBook({ files: new Map([['a', entry(1)]]) }, '/srv/www')
    book.flushWhenRecorded(3, () => channel as unknown as SftpChannel)
    await settle()
    expect(channel.files.size).toBe(1)
    await book.stop(channel as unknown as SftpChannel)
    expect(channel.renames).toBe(0)
    expect(channel.files.size).toBe(0)
  })

  it('writes through a fresh temporary file on another connection', async () => {
    const first = new MemoryChannel()
    const second = new MemoryChannel()
    const book = new StateBook(undefined, '/srv/www')
    book.flushWhenRecorded(2, () => first as unknown as SftpChannel)
    book.record('a', entry(1))
    await book.stop(second as unknown as SftpChannel)
    expect([...second.files.keys()]).toEqual([STATE])
    // The one opened on the first connection is given up there.
    expect(first.files.size).toBe(0)
  })

  it('still writes at stop() what changed after the early write', async () => {
    const channel = new MemoryChannel()
    const book = new StateBook(undefined, '/srv/www')
    book.flushWhenRecorded(1, () => channel as unknown as SftpChannel)
    book.record('a', entry(1))
    book.forget('a')
    book.record('c', entry(3))
    await book.stop(channel as unknown as SftpChannel)
    const written = parseState((channel.files.get(STATE) as Buffer).toString())
    expect([...written.files.keys()]).toEqual(['c'])
  })

  it('writes nothing when nothing changed', async () => {
    const channel = new MemoryChannel()
    const book = new StateBook({ files: new Map([['a', entry(1)]]) }, '/srv/www')
    book.flushWhenRecorded(0, () => channel as unknown as SftpChannel)
    book.retain(rel => rel === 'a')
    await book.stop(channel as unknown as SftpChannel)
    expect(channel.renames).toBe(0)
  })

  // The state's write then rides with the last renames: one round trip after them, not two.
  it('writes the state ahead while the last renames run, and puts it in place once all landed', async () => {
    const channel = new MemoryChannel()
    const book = new StateBook(undefined, '/srv/www')
    book.flushWhenRecorded(2, () => channel as unknown as SftpChannel)
    book.checkedOnServer('a', entry(1))
    await settle()
    const temps = () => [...channel.files.keys()].filter(k => k !== STATE)
    expect(channel.files.get(temps()[0])?.length).toBe(0)
    book.checkedOnServer('b', entry(2))
    await settle()
    await settle()
    // Written and checked under its temporary name, not renamed: neither file has landed yet.
    expect(channel.renames).toBe(0)
    expect(channel.files.has(STATE)).toBe(false)
    const ahead = parseState((channel.files.get(temps()[0]) as Buffer).toString())
    expect([...ahead.files.keys()]).toEqual(['a', 'b'])
    book.record('a', entry(1))
    await settle()
    expect(channel.renames).toBe(0)
    book.record('b', entry(2))
    await settle()
    await settle()
    expect(channel.renames).toBe(1)
    expect([...channel.files.keys()]).toEqual([STATE])
    const written = parseState((channel.files.get(STATE) as Buffer).toString())
    expect([...written.files.keys()]).toEqual(['a', 'b'])
    await book.stop(channel as unknown as SftpChannel)
    expect(channel.renames).toBe(1)
    expect(channel.opens).toBe(1)
  })

  it('drops the state written ahead when a file lands otherwise than it was checked', async () => {
    const channel = new MemoryChannel()
    const book = new StateBook(undefined, '/srv/www')
    book.flushWhenRecorded(2, () => channel as unknown as SftpChannel)
    book.checkedOnServer('a', entry(1))
    book.checkedOnServer('b', entry(2))
    await settle()
    book.record('a', entry(1))
    // Checked again after a reconnection, with another mtime.
    book.record('b', { ...entry(2), mtime: 99 })
    await book.stop(channel as unknown as SftpChannel)
    expect([...channel.files.keys()]).toEqual([STATE])
    const written = parseState((channel.files.get(STATE) as Buffer).toString())
    expect(written.files.get('b')?.mtime).toBe(99)
  })

  it('never puts in place a state naming a file that did not land', async () => {
    const channel = new MemoryChannel()
    const book = new StateBook(undefined, '/srv/www')
    book.flushWhenRecorded(2, () => channel as unknown as SftpChannel)
    book.checkedOnServer('a', entry(1))
    book.checkedOnServer('b', entry(2))
    await settle()
    book.record('a', entry(1))
    // b's rename failed: it is never recorded.
    await book.stop(channel as unknown as SftpChannel)
    expect([...channel.files.keys()]).toEqual([STATE])
    const written = parseState((channel.files.get(STATE) as Buffer).toString())
    expect([...written.files.keys()]).toEqual(['a'])
  })
})
