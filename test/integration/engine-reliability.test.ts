import { createHash, randomBytes } from 'node:crypto'
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
  utimesSync,
  writeFileSync
} from 'node:fs'
import * as path from 'node:path'
import { runAction } from '../support/action.js'
import { startSshd, type Sshd } from '../support/sshd.js'
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex')
const leftovers = (dir: string): string[] => readdirSync(dir).filter(n => n.endsWith('.sftp-part'))
const MB = 1024 * 1024

describe('dropped, stalled and throttled connections against OpenSSH behind a fault proxy', () => {
  let sshd: Sshd
  let proxy: TcpProxy
  let workspace: string
  let remote: string

  beforeAll(async () => {
    sshd = await startSshd({ hostKeyTypes: ['ed25519'], extraConfig: ['MaxSessions 2'] })
    proxy = await startTcpProxy({ targetPort: sshd.port })
    workspace = makeTempDir('rel-ws-')
    remote = makeTempDir('rel-remote-')
    writeFileSync(path.join(workspace, 'big.bin'), randomBytes(200 * MB))
  })
  afterAll(async () => {
    await proxy?.close()
    await sshd?.stop()
    removeTempDir(workspace)
    removeTempDir(remote)
  })
  afterEach(() => proxy.clearFaults())

  const inputs = (extra: Record<string, string>): Record<string, string> => ({
    host: '127.0.0.1',
    port: String(proxy.port),
    username: sshd.username,
    fingerprint: sshd.hostKeys[0].sha256,
    'private-key': sshd.clientKey.privatePem,
    timeout: '5',
    ...extra
  })

  test('a 200 MB upload whose connection is cut midway resumes and lands byte-identical', async () => {
    const target = path.join(remote, 'cut-up')
    proxy.setFaults({ cutAfterBytes: 100 * MB, cutConnections: 1 })
    const run = await runAction(inputs({ source: 'big.bin', target }), { workspace })
    expect(run.errors).toEqual([])
    expect(proxy.counters().cut).toBe(1)
    expect(run.stdout).toMatch(/::warning::Connection lost/)
    expect(run.stdout).toMatch(/Resuming .*big\.bin at byte [1-9]\d+/)
    expect(sha(path.join(target, 'big.bin'))).toBe(sha(path.join(workspace, 'big.bin')))
    expect(leftovers(target)).toEqual([])
  })

  test('a 200 MB download whose connection is cut midway resumes and lands byte-identical', async () => {
    const src = path.join(remote, 'cut-down')
    mkdirSync(src, { recursive: true })
    writeFileSync(path.join(src, 'big.bin'), readFileSync(path.join(workspace, 'big.bin')))
    proxy.setFaults({ cutAfterBytes: 100 * MB, cutConnections: 1 })
    const run = await runAction(
      inputs({ direction: 'download', source: `${src}/big.bin`, target: 'down' }),
      { workspace }
    )
    expect(run.errors).toEqual([])
    expect(proxy.counters().cut).toBeGreaterThanOrEqual(2)
    expect(run.stdout).toMatch(/Resuming .*big\.bin at byte [1-9]\d+/)
    expect(sha(path.join(workspace, 'down/big.bin'))).toBe(sha(path.join(src, 'big.bin')))
    expect(leftovers(path.join(workspace, 'down'))).toEqual([])
  })

  test('when every connection is cut the step fails in bounded time and the old file stays whole', async () => {
    const target = path.join(remote, 'all-cut')
    mkdirSync(target, { recursive: true })
    writeFileSync(path.join(target, 'big.bin'), 'previous release\n')
    proxy.setFaults({ cutAfterBytes: 30 * MB, cutConnections: Infinity })
    const run = await runAction(inputs({ source: 'big.bin', target, retries: '2' }), { workspace })
    expect(run.code).not.toBe(0)
    expect(run.errors).toHaveLength(1)
    expect(run.errors[0]).toMatch(/uploading to 127\.0\.0\.1:\d+: connection lost 3 times; gave up/)
    expect(run.durationMs).toBeLessThan(120_000)
    expect(readFileSync(path.join(target, 'big.bin'), 'utf8')).toBe('previous release\n')
    expect(leftovers(target)).toHaveLength(1)
    // Removed only once it has not changed for 15 minutes by the server's clock.
    const then = Date.now() / 1000 - 20 * 60
    utimesSync(path.join(target, leftovers(target)[0]), then, then)

    proxy.clearFaults()
    const good = await runAction(inputs({ source: 'big.bin', target }), { workspace })
    expect(good.errors).toEqual([])
    expect(good.stdout).toMatch(/Removed .*\.sftp-part, left by an earlier interrupted run/)
    expect(leftovers(target)).toEqual([])
    expect(sha(path.join(target, 'big.bin'))).toBe(sha(path.join(workspace, 'big.bin')))
  })

  test("another run's temporary file that is still growing is left alone; an old one is removed", async () => {
    const target = path.join(remote, 'racing')
    mkdirSync(target, { recursive: true })
    // Two deploys into one directory at once: the other run keeps appending to its temp file.
    const live = path.join(target, '.big.bin.0badc0de.sftp-part')
    const frozen = path.join(target, '.old.bin.0ddba11a.sftp-part')
    writeFileSync(live, '')
    writeFileSync(frozen, 'partial')
    const then = Date.now() / 1000 - 20 * 60
    utimesSync(frozen, then, then)
    let appended = 0
    const writer = setInterval(() => {
      appendFileSync(live, randomBytes(1024))
      appended += 1024
    }, 5)
    let run
    try {
      run = await runAction(inputs({ source: 'big.bin', target }), { workspace })
    } finally {
      clearInterval(writer)
    }
    expect(run.errors).toEqual([])
    expect(run.stdout).toMatch(/Left 1 temporary files of other runs alone/)
    expect(run.stdout).toMatch(/Removed .*0ddba11a\.sftp-part, left by an earlier interrupted run/)
    // Never removed and recreated by the appends: it holds every byte the other run wrote.
    expect(statSync(live).size).toBe(appended)
    expect(existsSync(frozen)).toBe(false)
    expect(sha(path.join(target, 'big.bin'))).toBe(sha(path.join(workspace, 'big.bin')))
  })

  test('a stalled transfer is detected within about the timeout and resumed', async () => {
    const target = path.join(remote, 'stall')
    proxy.setFaults({ stallAfterBytes: 50 * MB, stallConnections: 1 })
    const run = await runAction(inputs({ source: 'big.bin', target }), { workspace })
    expect(run.errors).toEqual([])
    expect(proxy.counters().stalled).toBe(1)
    expect(run.durationMs).toBeLessThan(60_000)
    expect(sha(path.join(target, 'big.bin'))).toBe(sha(path.join(workspace, 'big.bin')))
  })

  test('a login throttled by the server (connection closed at once) is retried', async () => {
    writeFileSync(path.join(workspace, 'small.txt'), 'small\n')
    proxy.setFaults({ refuse: 1 })
    const run = await runAction(
      inputs({ source: 'small.txt', target: path.join(remote, 'throttle') }),
      {
        workspace
      }
    )
    expect(run.errors).toEqual([])
    expect(proxy.counters().refused).toBeGreaterThanOrEqual(1)
    expect(run.stdout).toMatch(
      /::warning::.*(before handshake|before login|ECONNRESET).* Trying again in 1 s/
    )
  })

  test('400 files upload to a server with MaxSessions 2', async () => {
    const many = path.join(workspace, 'many')
    for (let i = 0; i < 400; i++) {
      mkdirSync(path.join(many, `d${i % 7}`), { recursive: true })
      writeFileSync(path.join(many, `d${i % 7}`, `f${i}.txt`), `file ${i}\n`.repeat(i % 50))
    }
    const target = path.join(remote, 'many')
    const run = await runAction(inputs({ source: 'many', target, concurrency: '16' }), {
      workspace
    })
    expect(run.errors).toEqual([])
    expect(run.outputs.files).toBe('400')
    for (let i = 0; i < 400; i += 37) {
      const rel = path.join(`d${i % 7}`, `f${i}.txt`)
      expect(readFileSync(path.join(target, rel), 'utf8')).toBe(`file ${i}\n`.repeat(i % 50))
    }
  })

  test('a symlink on the server pointing outside the source is not followed', async () => {
    const src = path.join(remote, 'with-link')
    mkdirSync(src, { recursive: true })
    writeFileSync(path.join(src, 'real.txt'), 'real\n')
    const { symlinkSync } = await import('node:fs')
    symlinkSync('/etc', path.join(src, 'etc-link'))
    const run = await runAction(inputs({ direction: 'download', source: src, target: 'linked' }), {
      workspace
    })
    expect(run.errors).toEqual([])
    expect(readdirSync(path.join(workspace, 'linked'))).toEqual(['real.txt'])
    expect(run.stdout).toMatch(
      /::warning::Refused remote entry .*etc-link.*symbolic links are not followed/
    )
    expect(existsSync(path.join(workspace, 'linked/etc-link'))).toBe(false)
  })
})
