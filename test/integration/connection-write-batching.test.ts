import { readFileSync } from 'node:fs'
import * as path from 'node:path'
import { connectVerified } from '../../src/connection/connect.js'
import { SftpSession } from '../../src/engine/session.js'
import { startSshd, type Sshd } from '../support/sshd.js'
import { sshdEndpoint } from '../support/endpoint.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

/** ssh2's own debug line for each CHANNEL_DATA packet it sends on channel `r`. */
const sentOn = (lines: string[], r: number) =>
  lines.filter(l => l.startsWith(`Outbound: Sending CHANNEL_DATA (r:${r},`)).length

describe('SFTP requests of one tick share SSH packets (real OpenSSH)', () => {
  let sshd: Sshd
  let session: SftpSession
  let root: string
  const debug: string[] = []

  beforeAll(async () => {
    sshd = await startSshd({ hostKeyTypes: ['ed25519'] })
    root = makeTempDir('write-batching-')
    const endpoint = sshdEndpoint(sshd)
    const connection = await connectVerified(endpoint, {
      timeoutMs: 10_000,
      retries: 0,
      debug: m => debug.push(m)
    })
    session = await SftpSession.open(connection, 1, 60_000)
  })

  afterAll(async () => {
    session?.close()
    await sshd?.stop()
    removeTempDir(root)
  })

  test('forty stats sent together leave in one or two packets, and all are answered', async () => {
    debug.length = 0
    const stats = await Promise.all(Array.from({ length: 40 }, () => session.main.stat(root)))
    expect(stats.every(s => s.isDirectory)).toBe(true)
    expect(sentOn(debug, 0)).toBeGreaterThanOrEqual(1)
    expect(sentOn(debug, 0)).toBeLessThanOrEqual(2)
  })

  test('small and big writes to one spot land in the order they were issued', async () => {
    const file = path.join(root, 'order.bin')
    const handle = await session.main.open(file, 'w')
    // A small write, a big one (sent on its own, at once) over it, then small ones again: a big
    // write overtaking the small one queued before it would leave 'a' bytes on top.
    const big = Buffer.alloc(20_000, 'b')
    const writes = [
      session.main.write(handle, Buffer.alloc(100, 'a'), 0),
      session.main.write(handle, big, 0),
      session.main.write(handle, Buffer.alloc(10, 'c'), 50),
      session.main.write(handle, Buffer.alloc(30_000, 'd'), 20_000),
      session.main.write(handle, Buffer.alloc(5, 'e'), 20_000)
    ]
    await Promise.all([...writes, session.main.close(handle)])
    const expected = Buffer.concat([
      Buffer.alloc(50, 'b'),
      Buffer.alloc(10, 'c'),
      Buffer.alloc(19_940, 'b'),
      Buffer.alloc(5, 'e'),
      Buffer.alloc(29_995, 'd')
    ])
    expect(readFileSync(file).equals(expected)).toBe(true)
  })
})
