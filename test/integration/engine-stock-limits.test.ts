import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { runAction, type ActionRun } from '../support/action.js'
import { startSshd, type Sshd } from '../support/sshd.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

const FILES = 60
const FALLBACK = /hashing by reading files back over SFTP/g

const manifestOf = (run: ActionRun) =>
  JSON.parse(readFileSync(run.outputs.manifest, 'utf8')) as {
    files: Array<{ status: string; sha256?: string }>
  }

/** Commands sshd started for us (VERBOSE: "Starting session: command for ..."). */
const commandsRun = (sshd: Sshd): number =>
  sshd.log().match(/Starting session: command for/g)?.length ?? 0

describe('verify: sha256 against sshd with its stock MaxSessions and MaxStartups', () => {
  let shell: Sshd
  let chroot: Sshd
  let workspace: string
  let remote: string

  beforeAll(async () => {
    ;[shell, chroot] = await Promise.all([
      startSshd({ hostKeyTypes: ['ed25519'] }),
      startSshd({ hostKeyTypes: ['ed25519'], sftpOnlyChroot: true })
    ])
    workspace = makeTempDir('stock-ws-')
    remote = makeTempDir('stock-remote-')
    for (let i = 0; i < FILES; i++) {
      const dir = path.join(workspace, 'site', `part${i % 5}`)
      mkdirSync(dir, { recursive: true })
      writeFileSync(path.join(dir, `file${i}.txt`), `content of file ${i}\n`.repeat(1 + (i % 7)))
    }
  })
  afterAll(async () => {
    await Promise.all([shell?.stop(), chroot?.stop()])
    removeTempDir(workspace)
    removeTempDir(remote)
  })

  const inputs = (server: Sshd, extra: Record<string, string>) => ({
    host: '127.0.0.1',
    port: String(server.port),
    username: server.username,
    fingerprint: server.hostKeys[0].sha256,
    'private-key': server.clientKey.privatePem,
    verify: 'sha256',
    ...extra
  })

  test('the harness leaves MaxSessions and MaxStartups at their stock values', () => {
    for (const server of [shell, chroot]) {
      const config = readFileSync(path.join(server.dir, 'sshd_config'), 'utf8')
      expect(config).not.toMatch(/^\s*(MaxSessions|MaxStartups)\b/im)
    }
  })

  test(`${FILES} files up and back down, every one hashed by the server's sha256sum`, async () => {
    const target = path.join(remote, 'site')
    const before = commandsRun(shell)
    // Step debug on: every file the server's sha256sum did not hash is logged as read back.
    const debug = { workspace, env: { RUNNER_DEBUG: '1' } }
    const up = await runAction(inputs(shell, { source: 'site', target }), debug)
    expect(up.errors).toEqual([])
    const upRows = manifestOf(up).files
    expect(upRows.filter(r => r.status === 'transferred' && r.sha256)).toHaveLength(FILES)
    expect(up.stdout.match(FALLBACK)).toBeNull()
    const down = await runAction(
      inputs(shell, { direction: 'download', source: target, target: 'back' }),
      debug
    )
    expect(down.errors).toEqual([])
    expect(manifestOf(down).files.filter(r => r.status === 'transferred')).toHaveLength(FILES)
    expect(down.stdout.match(FALLBACK)).toBeNull()
    // None was read back instead, and the hashes shared their commands: many files to one
    // sha256sum, at least one each way (each command costs the server a login shell).
    for (const run of [up, down]) expect(run.stdout).not.toMatch(/read(ing)? (it |them )?back/)
    const commands = commandsRun(shell) - before
    expect(commands).toBeGreaterThanOrEqual(2)
    expect(commands).toBeLessThan(FILES)
  }, 300_000)

  test('an SFTP-only chroot reads files back, and says so once', async () => {
    const run = await runAction(inputs(chroot, { source: 'site', target: 'upload/site' }), {
      workspace
    })
    expect(run.errors).toEqual([])
    expect(manifestOf(run).files.filter(r => r.sha256)).toHaveLength(FILES)
    expect(run.stdout.match(FALLBACK)).toHaveLength(1)
  }, 120_000)
})
