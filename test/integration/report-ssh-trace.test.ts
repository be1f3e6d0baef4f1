import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { runAction } from '../support/action.js'
import { startSshd, type Sshd } from '../support/sshd.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

const FILES = 400

// Without the limit ssh2 logs about a dozen lines per small file (over 4,000 here), and a
// 50,000-file deploy's step debug log held 600,000 of them.
describe('step debug logs ssh2 per-request lines up to a limit (real OpenSSH)', () => {
  let sshd: Sshd
  let workspace: string
  let remote: string

  beforeAll(async () => {
    sshd = await startSshd({ hostKeyTypes: ['ed25519'] })
    workspace = makeTempDir('trace-ws-')
    remote = makeTempDir('trace-remote-')
    for (let i = 0; i < FILES; i++) {
      mkdirSync(path.join(workspace, 'site', `d${i % 4}`), { recursive: true })
      writeFileSync(path.join(workspace, 'site', `d${i % 4}`, `f${i}.txt`), `file ${i}\n`)
    }
  })
  afterAll(async () => {
    await sshd?.stop()
    removeTempDir(workspace)
    removeTempDir(remote)
  })

  test(`${FILES} files: the debug log keeps connection lines and timings, not every request`, async () => {
    const target = path.join(remote, 'www')
    const run = await runAction(
      {
        host: sshd.host,
        port: String(sshd.port),
        username: sshd.username,
        fingerprint: sshd.hostKeys[0].sha256,
        'private-key': sshd.clientKey.privatePem,
        source: 'site',
        target
      },
      { workspace, env: { RUNNER_DEBUG: '1' } }
    )
    expect(run.errors).toEqual([])
    for (const i of [0, 1, FILES - 1]) {
      const rel = path.join(`d${i % 4}`, `f${i}.txt`)
      expect(readFileSync(path.join(target, rel), 'utf8')).toBe(`file ${i}\n`)
    }
    const debug = run.stdout.split('\n').filter(l => l.startsWith('::debug::'))
    // Each of the 8 channels adds three lines of its own (limits, VERSION, its reply).
    const sftp = debug.filter(l => l.startsWith('::debug::SFTP: '))
    expect(sftp.filter(l => / OPEN$/.test(l)).length).toBeGreaterThan(0)
    expect(sftp.length).toBeLessThanOrEqual(500 + 3 * 8)
    expect(debug.length).toBeLessThan(1500)
    expect(debug.filter(l => /Sending CHANNEL_OPEN \(r:\d+, session\)/.test(l)).length).toBe(
      debug.filter(l => /Inbound: CHANNEL_OPEN_CONFIRMATION/.test(l)).length
    )
    expect(debug.some(l => /^::debug::Timing .*: transfer \d+ ms/.test(l))).toBe(true)
    expect(debug.filter(l => /ssh2 trace: after 500 lines/.test(l))).toHaveLength(1)
    expect(debug.at(-1) ?? '').not.toBe('')
    expect(debug.some(l => /ssh2 trace: left out \d{4,} per-request lines/.test(l))).toBe(true)
  }, 120_000)
})
