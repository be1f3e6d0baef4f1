import { randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { runAction } from '../support/action.js'
import { startSshd, type Sshd } from '../support/sshd.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

/** Times far from "now", so a file that merely got written can never match by chance. */
const MTIME = 1_500_000_000
const ATIME = 1_400_000_000

const mode = (file: string): number => statSync(file).mode & 0o7777
const mtime = (file: string): number => Math.floor(statSync(file).mtimeMs / 1000)
const atime = (file: string): number => Math.floor(statSync(file).atimeMs / 1000)

/**
 * A tree whose every file and folder has a distinctive mode and old times: `run.sh` 0750 (with
 * setuid, which must never travel), `conf/app.ini` 0640 in a 0710 folder, `doc/deep/a.txt`
 * 0604 in 0751 and 0705 folders.
 */
function makeTree(root: string, stamp: number): void {
  mkdirSync(path.join(root, 'conf'), { recursive: true })
  mkdirSync(path.join(root, 'doc/deep'), { recursive: true })
  const files: Array<[string, number]> = [
    ['run.sh', 0o4750],
    ['conf/app.ini', 0o640],
    ['doc/deep/a.txt', 0o604]
  ]
  for (const [rel, fileMode] of files) {
    const file = path.join(root, rel)
    writeFileSync(file, `${rel}\n`)
    chmodSync(file, fileMode)
    utimesSync(file, ATIME + stamp, MTIME + stamp)
  }
  chmodSync(path.join(root, 'conf'), 0o710)
  chmodSync(path.join(root, 'doc'), 0o751)
  chmodSync(path.join(root, 'doc/deep'), 0o705)
}

/**
 * What `preserve: times,mode` must reproduce, file by file and folder by folder. Times are
 * compared with the ones `makeTree` set: reading the source updates its access time (relatime).
 */
function expectSameAttributes(from: string, to: string, stamp: number): void {
  for (const rel of ['run.sh', 'conf/app.ini', 'doc/deep/a.txt']) {
    expect([rel, mtime(path.join(to, rel))]).toEqual([rel, MTIME + stamp])
    expect([rel, atime(path.join(to, rel))]).toEqual([rel, ATIME + stamp])
    expect([rel, mode(path.join(to, rel))]).toEqual([rel, mode(path.join(from, rel)) & 0o777])
  }
  for (const rel of ['conf', 'doc', 'doc/deep']) {
    expect([rel, mode(path.join(to, rel))]).toEqual([rel, mode(path.join(from, rel)) & 0o777])
  }
}

/** Reading a file moves its access time (relatime): each run starts from the tree's own times. */
function restamp(root: string, stamp: number): void {
  for (const rel of ['run.sh', 'conf/app.ini', 'doc/deep/a.txt']) {
    utimesSync(path.join(root, rel), ATIME + stamp, MTIME + stamp)
  }
}

describe('preserve and chmod on upload, download and relay (bundle of src/)', () => {
  let sshd: Sshd
  let workspace: string
  let remote: string

  beforeAll(async () => {
    sshd = await startSshd({ hostKeyTypes: ['ed25519'] })
    workspace = makeTempDir('preserve-ws-')
    remote = makeTempDir('preserve-remote-')
    makeTree(path.join(workspace, 'site'), 0)
    makeTree(path.join(remote, 'served'), 1000)
  })

  afterAll(async () => {
    await sshd?.stop()
    removeTempDir(workspace)
    removeTempDir(remote)
  })

  const login = (): Record<string, string> => ({
    host: sshd.host,
    port: String(sshd.port),
    username: sshd.username,
    fingerprint: sshd.hostKeys[0].sha256,
    'private-key': sshd.clientKey.privatePem
  })

  const ok = async (inputs: Record<string, string>) => {
    restamp(path.join(workspace, 'site'), 0)
    restamp(path.join(remote, 'served'), 1000)
    const run = await runAction({ ...login(), ...inputs }, { workspace })
    if (run.code !== 0) console.log(run.stdout, run.stderr)
    expect(run.errors).toEqual([])
    expect(run.code).toBe(0)
    return run
  }

  test('upload keeps the local times by default (mode left to the server)', async () => {
    const target = path.join(remote, 'up-default')
    const run = await ok({ source: 'site', target })
    expect(mtime(path.join(target, 'run.sh'))).toBe(MTIME)
    expect(atime(path.join(target, 'conf/app.ini'))).toBe(ATIME)
    // The server's default for a new file, not the local 0750.
    expect(mode(path.join(target, 'run.sh'))).not.toBe(0o750)
    expect(run.summary).toContain('times kept from the source')
  })

  test('preserve: none leaves the time of writing', async () => {
    const target = path.join(remote, 'up-none')
    const before = Math.floor(Date.now() / 1000) - 5
    await ok({ source: 'site', target, preserve: 'none' })
    expect(mtime(path.join(target, 'run.sh'))).toBeGreaterThanOrEqual(before)
  })

  test('upload with preserve: times,mode copies times and permission bits, never setuid', async () => {
    const target = path.join(remote, 'up-all')
    await ok({ source: 'site', target, preserve: 'times,mode' })
    expectSameAttributes(path.join(workspace, 'site'), target, 0)
    expect(mode(path.join(target, 'run.sh'))).toBe(0o750)
  })

  test('download with preserve: times,mode takes the server times and modes', async () => {
    await ok({
      direction: 'download',
      source: path.join(remote, 'served'),
      target: 'down',
      preserve: 'times,mode'
    })
    expectSameAttributes(path.join(remote, 'served'), path.join(workspace, 'down'), 1000)
    expect(mtime(path.join(workspace, 'down/run.sh'))).toBe(MTIME + 1000)
  })

  test('relay with preserve: times,mode copies the source server times and modes', async () => {
    const target = path.join(remote, 'relayed')
    await ok({
      direction: 'relay',
      source: path.join(remote, 'served'),
      target,
      'target-host': sshd.host,
      'target-port': String(sshd.port),
      'target-fingerprint': sshd.hostKeys[0].sha256,
      preserve: 'times,mode'
    })
    expectSameAttributes(path.join(remote, 'served'), target, 1000)
  })

  test('chmod D750,F600 wins over preserve: mode, for new folders only, in every direction', async () => {
    const existing = path.join(remote, 'chmod-up')
    mkdirSync(existing, { mode: 0o755 })
    chmodSync(existing, 0o755)
    const chmod = { preserve: 'times,mode', chmod: 'D750,F600' }
    const up = await ok({ source: 'site', target: existing, ...chmod })
    expect(up.summary).toContain('files set to 600 &#40;chmod&#41;')
    const down = path.join(workspace, 'chmod-down')
    await ok({
      direction: 'download',
      source: path.join(remote, 'served'),
      target: 'chmod-down',
      ...chmod
    })
    const relayed = path.join(remote, 'chmod-relay')
    await ok({
      direction: 'relay',
      source: path.join(remote, 'served'),
      target: relayed,
      'target-host': sshd.host,
      'target-port': String(sshd.port),
      'target-fingerprint': sshd.hostKeys[0].sha256,
      ...chmod
    })
    for (const root of [existing, down, relayed]) {
      for (const rel of ['run.sh', 'conf/app.ini', 'doc/deep/a.txt']) {
        expect([root, rel, mode(path.join(root, rel))]).toEqual([root, rel, 0o600])
      }
      for (const rel of ['conf', 'doc', 'doc/deep']) {
        expect([root, rel, mode(path.join(root, rel))]).toEqual([root, rel, 0o750])
      }
      expect(mtime(path.join(root, 'run.sh'))).toBeLessThan(MTIME + 2000)
    }
    // The target existed: it is not the action's to change.
    expect(mode(existing)).toBe(0o755)
    // Folders the action created above the files, the target included, get D too.
    expect(mode(relayed)).toBe(0o750)
  })

  test('a large file (written over several channels) keeps its time and mode both ways', async () => {
    const big = path.join(workspace, 'big')
    mkdirSync(big)
    writeFileSync(path.join(big, 'data.bin'), randomBytes(3 * 1024 * 1024 + 5))
    chmodSync(path.join(big, 'data.bin'), 0o640)
    utimesSync(path.join(big, 'data.bin'), ATIME, MTIME)
    const target = path.join(remote, 'big-up')
    await ok({ source: 'big', target, preserve: 'times,mode' })
    expect(mtime(path.join(target, 'data.bin'))).toBe(MTIME)
    expect(mode(path.join(target, 'data.bin'))).toBe(0o640)
    utimesSync(path.join(target, 'data.bin'), ATIME, MTIME + 7)
    await ok({ direction: 'download', source: target, target: 'big-down', preserve: 'times,mode' })
    expect(mtime(path.join(workspace, 'big-down/data.bin'))).toBe(MTIME + 7)
    expect(mode(path.join(workspace, 'big-down/data.bin'))).toBe(0o640)
  })

  test('sync: changed with kept times: an unchanged re-run skips everything, a server edit is seen', async () => {
    const target = path.join(remote, 'synced')
    const first = await ok({ source: 'site', target, sync: 'changed' })
    expect(first.outputs.files).toBe('3')
    expect(mtime(path.join(target, 'conf/app.ini'))).toBe(MTIME)
    const again = await ok({ source: 'site', target, sync: 'changed' })
    expect(again.outputs.files).toBe('0')
    expect(again.outputs.skipped).toBe('3')
    // Same size, but written on the server: its time is no longer the source's.
    writeFileSync(path.join(target, 'conf/app.ini'), 'XXXX/app.ini\n')
    const repaired = await ok({ source: 'site', target, sync: 'changed' })
    expect(repaired.outputs.files).toBe('1')
    expect(readFileSync(path.join(target, 'conf/app.ini'), 'utf8')).toBe('conf/app.ini\n')
    expect(mtime(path.join(target, 'conf/app.ini'))).toBe(MTIME)
  })

  test('a malformed chmod is one clear error before any connection', async () => {
    const run = await runAction(
      { ...login(), source: 'site', target: path.join(remote, 'never'), chmod: 'u+x' },
      { workspace }
    )
    expect(run.code).not.toBe(0)
    expect(run.errors).toHaveLength(1)
    expect(run.errors[0]).toMatch(/Input 'chmod': 'u\+x' is not understood.*D755,F644/)
  })
})
