import { randomBytes } from 'node:crypto'
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  utimesSync,
  writeFileSync
} from 'node:fs'
import * as path from 'node:path'
import { runAction } from '../support/action.js'
import { startSshd, type Sshd } from '../support/sshd.js'
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

const leftovers = (dir: string): string[] => readdirSync(dir).filter(n => n.endsWith('.sftp-part'))

/** Sets a file's times `minutes` into the past on the server's own disk. */
function age(file: string, minutes: number): void {
  const when = Date.now() / 1000 - minutes * 60
  utimesSync(file, when, when)
}

/** Every file below `dir`, relative, for comparing two trees. */
function tree(dir: string, rel = ''): Map<string, string> {
  const files = new Map<string, string>()
  for (const entry of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const child = path.join(rel, entry.name)
    if (entry.isDirectory()) tree(dir, child).forEach((v, k) => files.set(k, v))
    else files.set(child, readFileSync(path.join(dir, child), 'utf8'))
  }
  return files
}

describe('leftover temporary files against OpenSSH (bundle of src/)', () => {
  let sshd: Sshd
  let proxies: TcpProxy[]
  let workspace: string
  let remote: string

  beforeAll(async () => {
    sshd = await startSshd({ hostKeyTypes: ['ed25519'] })
    // Several addresses for one server: fan-out hosts that share one file system.
    proxies = await Promise.all([1, 2, 3].map(() => startTcpProxy({ targetPort: sshd.port })))
    workspace = makeTempDir('temps-ws-')
    remote = makeTempDir('temps-remote-')
    writeFileSync(path.join(workspace, 'index.html'), 'new\n')
    // Many small files in a few folders: a deploy that takes long enough to overlap another.
    for (let i = 0; i < 300; i++) {
      mkdirSync(path.join(workspace, 'many', `d${i % 5}`), { recursive: true })
      const body = `file ${i}\n`.repeat(1 + ((i * 7919) % 20_000))
      writeFileSync(path.join(workspace, 'many', `d${i % 5}`, `f${i}.txt`), body)
    }
  })
  afterAll(async () => {
    await Promise.all((proxies ?? []).map(p => p.close()))
    await sshd?.stop()
    removeTempDir(workspace)
    removeTempDir(remote)
  })

  const inputs = (extra: Record<string, string>): Record<string, string> => ({
    host: `127.0.0.1:${sshd.port}`,
    username: sshd.username,
    fingerprint: sshd.hostKeys[0].sha256,
    'private-key': sshd.clientKey.privatePem,
    ...extra
  })

  test('only our own names, unchanged for 15 minutes by the server clock, are removed', async () => {
    const target = path.join(remote, 'aged')
    mkdirSync(target)
    const old = path.join(target, '.index.html.0ddba11a.sftp-part')
    const young = path.join(target, '.about.html.0badc0de.sftp-part')
    // Looks like a leftover, but a newline makes it hostile: never touched, never logged raw.
    const hostile = path.join(target, '.x\n::error::pwned.0ddba11b.sftp-part')
    // The suffix without a run token is not a name this action writes.
    const foreign = path.join(target, '.notes.sftp-part')
    for (const file of [old, young, hostile, foreign]) writeFileSync(file, 'partial')
    age(old, 20)
    age(young, 5)
    age(hostile, 60)
    age(foreign, 60)

    const run = await runAction(inputs({ source: 'index.html', target }), { workspace })
    expect(run.errors).toEqual([])
    expect(readFileSync(path.join(target, 'index.html'), 'utf8')).toBe('new\n')
    expect(existsSync(old)).toBe(false)
    expect(run.stdout).toMatch(/Removed .*0ddba11a\.sftp-part, left by an earlier interrupted run/)
    for (const kept of [young, hostile, foreign]) expect(existsSync(kept)).toBe(true)
    expect(run.stdout).not.toMatch(/^::error::pwned/m)
    expect(leftovers(target).sort()).toEqual(
      [young, hostile, foreign].map(f => path.basename(f)).sort()
    )
  })

  test('fan-out to one file system through four addresses: every file lands from each', async () => {
    const target = path.join(remote, 'shared')
    const run = await runAction(
      inputs({
        host: [sshd.port, ...proxies.map(p => p.port)].map(p => `127.0.0.1:${p}`).join(', '),
        source: 'many',
        target,
        concurrency: '16'
      }),
      { workspace, timeoutMs: 240_000 }
    )
    expect(run.errors).toEqual([])
    expect(run.code).toBe(0)
    expect(run.outputs.files).toBe('1200')
    expect(tree(target)).toEqual(tree(path.join(workspace, 'many')))
    expect(leftovers(path.join(target, 'd0'))).toEqual([])
  })

  test('two deploys started together into one folder both succeed', async () => {
    const target = path.join(remote, 'parallel')
    const both = await Promise.all(
      [sshd.port, ...proxies.map(p => p.port)].map(port =>
        runAction(
          inputs({ host: `127.0.0.1:${port}`, source: 'many', target, concurrency: '16' }),
          { workspace, timeoutMs: 240_000 }
        )
      )
    )
    for (const run of both) {
      expect(run.errors).toEqual([])
      expect(run.code).toBe(0)
      expect(run.outputs.files).toBe('300')
    }
    expect(tree(target)).toEqual(tree(path.join(workspace, 'many')))
  })

  test('a big file still being written by another run survives a deploy next to it', async () => {
    const target = path.join(remote, 'beside')
    mkdirSync(target)
    writeFileSync(path.join(workspace, 'big.bin'), randomBytes(1024))
    // The other run's temporary file: written a moment ago, so it is in flight.
    const inflight = path.join(target, '.big.bin.0badf00d.sftp-part')
    writeFileSync(inflight, randomBytes(4096))
    const run = await runAction(inputs({ source: 'big.bin', target }), { workspace })
    expect(run.errors).toEqual([])
    expect(existsSync(inflight)).toBe(true)
  })
})
