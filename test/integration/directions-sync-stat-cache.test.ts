import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { SETTLE_MS } from '../../src/plans/stat-key.js'
import { runAction } from '../support/action.js'
import { startSshd, type Sshd } from '../support/sshd.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

const STATE = '.pinned-sftp-state.json'

interface StateText {
  files: [string, string, number, number][]
  stat?: Array<string | 0>
}

/**
 * `sync: changed` with the stat cache: files the state's keys vouch for are not read, and a file
 * whose content changed is sent whatever its size and modification time say.
 */
describe('sync: changed skips reading files its stat cache vouches for (bundle, OpenSSH)', () => {
  let sshd: Sshd
  let workspace: string
  let remote: string
  let target: string
  const site = () => path.join(workspace, 'site')

  beforeAll(async () => {
    sshd = await startSshd({ hostKeyTypes: ['ed25519'] })
    workspace = makeTempDir('statcache-ws-')
    remote = makeTempDir('statcache-remote-')
    target = path.join(remote, 'www')
    for (let i = 0; i < 20; i++) {
      mkdirSync(path.join(site(), `d${i % 4}`), { recursive: true })
      writeFileSync(path.join(site(), `d${i % 4}`, `f${i}.txt`), `file ${i}\n`)
    }
    // Keys are kept only for files changed SETTLE_MS or more before they are read.
    await new Promise(resolve => setTimeout(resolve, SETTLE_MS + 300))
  })
  afterAll(async () => {
    await sshd?.stop()
    removeTempDir(workspace)
    removeTempDir(remote)
  })

  const deploy = () =>
    runAction(
      {
        host: '127.0.0.1',
        port: String(sshd.port),
        username: sshd.username,
        fingerprint: sshd.hostKeys[0].sha256,
        'private-key': sshd.clientKey.privatePem,
        source: 'site',
        target,
        sync: 'changed'
      },
      { workspace }
    )
  const state = () => JSON.parse(readFileSync(path.join(target, STATE), 'utf8')) as StateText
  const keyOf = (rel: string) => {
    const s = state()
    return s.stat?.[s.files.findIndex(row => row[0] === rel)]
  }
  const compared = (stdout: string) =>
    /Sync state: (\d+) files known unchanged[^,]*, (\d+) read/.exec(stdout)?.slice(1).map(Number)
  /** Same size, other bytes, and the old modification time put back, as `touch -r` would. */
  const rewriteKeepingTimes = (rel: string, text: string) => {
    const file = path.join(site(), rel)
    const before = statSync(file)
    expect(Buffer.byteLength(text)).toBe(before.size)
    const reference = path.join(workspace, 'reference')
    copyFileSync(file, reference)
    execFileSync('touch', ['-r', file, reference])
    writeFileSync(file, text)
    execFileSync('touch', ['-r', reference, file])
    expect(statSync(file).mtimeMs).toBe(before.mtimeMs)
  }

  test('a first deploy reads nothing to compare and keeps a settled key per file', async () => {
    const run = await deploy()
    expect(run.errors).toEqual([])
    expect(run.outputs.files).toBe('20')
    const s = state()
    expect(s.files.every(row => row.length === 4)).toBe(true)
    expect(s.stat).toHaveLength(20)
    expect(s.stat?.every(key => typeof key === 'string' && key.length > 0)).toBe(true)
  })

  test('an unchanged re-deploy reads no file and writes no state', async () => {
    const before = statSync(path.join(target, STATE)).mtimeMs
    const run = await deploy()
    expect(run.errors).toEqual([])
    expect(run.outputs.files).toBe('0')
    expect(run.outputs.skipped).toBe('20')
    expect(compared(run.stdout)).toEqual([20, 0])
    expect(statSync(path.join(target, STATE)).mtimeMs).toBe(before)
  })

  test('same size, other content, modification time put back: read and sent', async () => {
    rewriteKeepingTimes('d1/f5.txt', 'FILE 5\n')
    const run = await deploy()
    expect(run.errors).toEqual([])
    expect(run.outputs.files).toBe('1')
    expect(compared(run.stdout)).toEqual([19, 1])
    expect(readFileSync(path.join(target, 'd1/f5.txt'), 'utf8')).toBe('FILE 5\n')
    // Changed just now: its new key is not settled, so it is read again next time, not trusted.
    expect(keyOf('d1/f5.txt')).toBe(0)
    const again = await deploy()
    expect(again.outputs.files).toBe('0')
    expect(compared(again.stdout)).toEqual([19, 1])
  })

  test('a file changed right after the state was written is sent', async () => {
    // Deployed while fresh (no key kept), then edited at once, times put back: same size.
    writeFileSync(path.join(site(), 'd2/new.txt'), 'new one\n')
    const first = await deploy()
    expect(first.outputs.files).toBe('1')
    expect(keyOf('d2/new.txt')).toBe(0)
    rewriteKeepingTimes('d2/new.txt', 'NEW ONE\n')
    const run = await deploy()
    expect(run.errors).toEqual([])
    expect(run.outputs.files).toBe('1')
    expect(readFileSync(path.join(target, 'd2/new.txt'), 'utf8')).toBe('NEW ONE\n')
  })

  test('a file edited after a settled key was kept is sent, times put back or not', async () => {
    expect(typeof keyOf('d3/f7.txt')).toBe('string')
    rewriteKeepingTimes('d3/f7.txt', 'FILE 7\n')
    writeFileSync(path.join(site(), 'd0/f8.txt'), 'file 8!')
    const run = await deploy()
    expect(run.errors).toEqual([])
    expect(run.outputs.files).toBe('2')
    expect(readFileSync(path.join(target, 'd3/f7.txt'), 'utf8')).toBe('FILE 7\n')
    expect(readFileSync(path.join(target, 'd0/f8.txt'), 'utf8')).toBe('file 8!')
  })
})
