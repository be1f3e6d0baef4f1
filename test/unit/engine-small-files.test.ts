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

describe('readSmallFile', () => {
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
