import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { runAction } from '../support/action.js'
import { startSshd, type Sshd } from '../support/sshd.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

/** Folders the action asked the server to list (ssh2's debug line for each OPENDIR). */
const listings = (stdout: string): number =>
  stdout.match(/::debug::SFTP: Outbound: \w+ OPENDIR/g)?.length ?? 0

// Folders the action creates cannot hold another run's leftovers: a first deploy into a new
// target lists nothing there, while a deploy into existing folders still looks for leftovers.
describe('leftover search skips the folders the action just made (real OpenSSH)', () => {
  let sshd: Sshd
  let workspace: string
  let remote: string

  beforeAll(async () => {
    sshd = await startSshd({ hostKeyTypes: ['ed25519'] })
    workspace = makeTempDir('fresh-ws-')
    remote = makeTempDir('fresh-remote-')
    for (let i = 0; i < 30; i++) {
      mkdirSync(path.join(workspace, 'site', `d${i % 3}`), { recursive: true })
      writeFileSync(path.join(workspace, 'site', `d${i % 3}`, `f${i}.txt`), `file ${i}\n`)
    }
  })
  afterAll(async () => {
    await sshd?.stop()
    removeTempDir(workspace)
    removeTempDir(remote)
  })

  test('a first deploy lists none of its new folders; the next one lists them all', async () => {
    const target = path.join(remote, 'new', 'www')
    const inputs = {
      host: sshd.host,
      port: String(sshd.port),
      username: sshd.username,
      fingerprint: sshd.hostKeys[0].sha256,
      'private-key': sshd.clientKey.privatePem,
      source: 'site',
      target
    }
    const env = { RUNNER_DEBUG: '1' }
    const first = await runAction(inputs, { workspace, env })
    expect(first.code).toBe(0)
    expect(readdirSync(path.join(target, 'd1'))).toHaveLength(10)
    expect(listings(first.stdout)).toBe(0)

    const again = await runAction(inputs, { workspace, env })
    expect(again.code).toBe(0)
    expect(listings(again.stdout)).toBe(3)
  })
})
