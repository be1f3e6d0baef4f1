import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { runAction } from '../support/action.js'
import { startSshd, type Sshd } from '../support/sshd.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'
import { WORKER_MIN_FILES } from '../../src/plans/local-hash.js'

const STATE = '.pinned-sftp-state.json'

/** A `sync: changed` upload of the workspace's `site` folder into `target`. */
function syncDeploy(sshd: Sshd, workspace: string, target: string, timeoutMs?: number) {
  return runAction(
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
    { workspace, ...(timeoutMs ? { timeoutMs } : {}) }
  )
}

describe('the sync state file (bundle of src/, against OpenSSH)', () => {
  let sshd: Sshd
  let workspace: string
  let remote: string
  let target: string

  beforeAll(async () => {
    sshd = await startSshd({ hostKeyTypes: ['ed25519'] })
    workspace = makeTempDir('state-ws-')
    remote = makeTempDir('state-remote-')
    target = path.join(remote, 'www')
    for (let i = 0; i < 50; i++) {
      mkdirSync(path.join(workspace, 'site', `d${i % 5}`), { recursive: true })
      writeFileSync(path.join(workspace, 'site', `d${i % 5}`, `f${i}.txt`), `file ${i}\n`)
    }
  })
  afterAll(async () => {
    await sshd?.stop()
    removeTempDir(workspace)
    removeTempDir(remote)
  })

  const deploy = () => syncDeploy(sshd, workspace, target)
  const stateFile = () => path.join(target, STATE)
  const warnings = (stdout: string) => stdout.split('\n').filter(l => l.startsWith('::warning'))

  test('a first deploy writes a compact version 2 state', async () => {
    const run = await deploy()
    expect(run.errors).toEqual([])
    expect(run.outputs.files).toBe('50')
    const state = JSON.parse(readFileSync(stateFile(), 'utf8')) as {
      version: number
      files: unknown[]
    }
    expect(state.version).toBe(2)
    expect(state.files).toHaveLength(50)
  })

  test('a state far larger than 4 MiB is still read: nothing is sent again', async () => {
    const state = JSON.parse(readFileSync(stateFile(), 'utf8')) as {
      version: 2
      files: unknown[][]
    }
    const digest = state.files[0][1]
    for (let i = 0; i < 80_000; i++) {
      state.files.push([`gone/${'x'.repeat(20)}/${i}.html`, digest, 100, 1_700_000_000])
    }
    writeFileSync(stateFile(), JSON.stringify(state))
    expect(statSync(stateFile()).size).toBeGreaterThan(6 * 1024 * 1024)

    const run = await deploy()
    expect(run.errors).toEqual([])
    expect(warnings(run.stdout)).toEqual([])
    expect(run.outputs.files).toBe('0')
    expect(run.outputs.skipped).toBe('50')
    // Entries for files the source no longer has are dropped when the state is saved.
    expect(statSync(stateFile()).size).toBeLessThan(10_000)
  })

  test('an unchanged re-deploy does not rewrite the state', async () => {
    const before = statSync(stateFile()).mtimeMs
    const run = await deploy()
    expect(run.outputs.skipped).toBe('50')
    expect(statSync(stateFile()).mtimeMs).toBe(before)
  })

  test('a state written by an earlier release (version 1) is still honoured', async () => {
    const v2 = JSON.parse(readFileSync(stateFile(), 'utf8')) as {
      files: [string, string, number, number][]
    }
    const files = Object.fromEntries(
      v2.files.map(([rel, digest, size, mtime]) => [
        rel,
        { sha256: Buffer.from(digest, 'base64').toString('hex'), size, mtime }
      ])
    )
    writeFileSync(stateFile(), JSON.stringify({ version: 1, files }))
    const run = await deploy()
    expect(run.errors).toEqual([])
    expect(run.outputs.skipped).toBe('50')
  })

  test('an unreadable state is a warning that says everything will be sent', async () => {
    writeFileSync(stateFile(), '{"version":1,"files":')
    const run = await deploy()
    expect(run.errors).toEqual([])
    const lines = warnings(run.stdout)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain('could not be used')
    expect(lines[0]).toContain('Every file will be sent')
    expect(run.outputs.files).toBe('50')
    const state = JSON.parse(readFileSync(stateFile(), 'utf8')) as {
      version: number
      files: unknown[]
    }
    expect(state.files).toHaveLength(50)
  })
})

// From WORKER_MIN_FILES on, a second thread reads and hashes the source, and the sizes the plan
// and the report use are the bytes it hashed: the walk stats no file.
describe('sync: changed with the source hashed on a second thread', () => {
  const FILES = WORKER_MIN_FILES + 100
  let sshd: Sshd
  let workspace: string
  let remote: string

  beforeAll(async () => {
    sshd = await startSshd({ hostKeyTypes: ['ed25519'] })
    workspace = makeTempDir('state-many-ws-')
    remote = makeTempDir('state-many-remote-')
    for (let d = 0; d < 20; d++)
      mkdirSync(path.join(workspace, 'site', `d${d}`), { recursive: true })
    for (let i = 0; i < FILES; i++) {
      writeFileSync(path.join(workspace, 'site', `d${i % 20}`, `f${i}.txt`), 'x'.repeat(i % 97))
    }
  })
  afterAll(async () => {
    await sshd?.stop()
    removeTempDir(workspace)
    removeTempDir(remote)
  })

  const deploy = () => syncDeploy(sshd, workspace, path.join(remote, 'www'), 240_000)

  test('sends every byte once, then only what changed, by its size too', async () => {
    let bytes = 0
    for (let i = 0; i < FILES; i++) bytes += i % 97
    const first = await deploy()
    expect(first.errors).toEqual([])
    expect(first.stdout).toContain('hashed on a second thread')
    expect(first.outputs.files).toBe(String(FILES))
    expect(first.outputs.bytes).toBe(String(bytes))
    expect(statSync(path.join(remote, 'www', 'd3', 'f3.txt')).size).toBe(3)

    const again = await deploy()
    expect(again.errors).toEqual([])
    expect(again.outputs.files).toBe('0')
    expect(again.outputs.skipped).toBe(String(FILES))

    writeFileSync(path.join(workspace, 'site', 'd5', 'f5.txt'), 'longer than before\n')
    const edited = await deploy()
    expect(edited.errors).toEqual([])
    expect(edited.outputs.files).toBe('1')
    expect(edited.outputs.bytes).toBe('19')
    expect(readFileSync(path.join(remote, 'www', 'd5', 'f5.txt'), 'utf8')).toBe(
      'longer than before\n'
    )
  }, 300_000)
})
