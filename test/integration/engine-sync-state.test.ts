import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { runAction } from '../support/action.js'
import { startSshd, type Sshd } from '../support/sshd.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

const STATE = '.pinned-sftp-state.json'

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
