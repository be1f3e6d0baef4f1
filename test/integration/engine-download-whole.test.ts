import { createHash } from 'node:crypto'
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { runAction } from '../support/action.js'
import { startSshd, type Sshd } from '../support/sshd.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex')

/** OpenSSH 9.2's read limit (`limits@openssh.com`): a small file is read whole below it. */
const READ_MAX = 261_120

// On OpenSSH a small file is read whole by one READ of a byte more than its size, which also
// finds its end: every size around the request and buffer boundaries must land exactly.
const SIZES = [0, 1, 2, 4095, 4096, 4097, 65_535, 65_536, READ_MAX - 1, READ_MAX, READ_MAX + 1]

describe('small files read whole from OpenSSH, at every boundary (bundle of src/)', () => {
  let sshd: Sshd
  let workspace: string
  let remote: string

  beforeAll(async () => {
    sshd = await startSshd({ hostKeyTypes: ['ed25519'] })
    workspace = makeTempDir('whole-ws-')
    remote = makeTempDir('whole-remote-')
    for (const size of SIZES) {
      const body = Buffer.alloc(size)
      for (let i = 0; i < size; i++) body[i] = (i * 31 + size) & 0xff
      writeFileSync(path.join(remote, `f${size}.bin`), body)
    }
  })

  afterAll(async () => {
    await sshd?.stop()
    removeTempDir(workspace)
    removeTempDir(remote)
  })

  test('downloads every size byte-identical, with nothing else left in the target', async () => {
    const run = await runAction(
      {
        host: sshd.host,
        port: String(sshd.port),
        username: sshd.username,
        fingerprint: sshd.hostKeys[0].sha256,
        'private-key': sshd.clientKey.privatePem,
        direction: 'download',
        source: remote,
        target: 'out'
      },
      { workspace }
    )
    expect(run.errors).toEqual([])
    expect(run.code).toBe(0)
    const out = path.join(workspace, 'out')
    expect(readdirSync(out).sort()).toEqual(SIZES.map(s => `f${s}.bin`).sort())
    for (const size of SIZES) {
      const got = readFileSync(path.join(out, `f${size}.bin`))
      expect([size, got.length]).toEqual([size, size])
      expect(sha256(got)).toBe(sha256(readFileSync(path.join(remote, `f${size}.bin`))))
    }
  })
})
