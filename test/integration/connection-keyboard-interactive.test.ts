import { randomBytes } from 'node:crypto'
import { chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { runAction } from '../support/action.js'
import { startEmbeddedServer, type EmbeddedServer } from '../support/embedded-server.js'
import { runChecked } from '../support/run.js'
import { startSshd, type Sshd } from '../support/sshd.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

/**
 * A PAM-only OpenSSH server: passwords are taken through keyboard-interactive only, as many
 * hosts configure it. The login is a throwaway user with a random password, removed afterwards.
 */
describe('keyboard-interactive password login (bundle of src/)', () => {
  const user = `kbd${randomBytes(4).toString('hex')}`
  const password = `Pw-${randomBytes(12).toString('base64url')}`
  let sshd: Sshd
  let workspace: string
  let remote: string

  beforeAll(async () => {
    await runChecked('useradd', ['--no-create-home', '--shell', '/bin/sh', user])
    await runChecked('chpasswd', [], { input: `${user}:${password}\n` })
    sshd = await startSshd({
      hostKeyTypes: ['ed25519'],
      extraConfig: ['UsePAM yes', 'KbdInteractiveAuthentication yes', 'PasswordAuthentication no']
    })
    workspace = makeTempDir('kbd-ws-')
    remote = makeTempDir('kbd-remote-')
    const { uid, gid } = await ids(user)
    chownSync(remote, uid, gid)
    mkdirSync(path.join(workspace, 'site'))
    writeFileSync(path.join(workspace, 'site/index.html'), 'through PAM\n')
  })

  afterAll(async () => {
    await sshd?.stop()
    await runChecked('userdel', ['--force', user]).catch(() => undefined)
    removeTempDir(workspace)
    removeTempDir(remote)
  })

  const inputs = (extra: Record<string, string>): Record<string, string> => ({
    host: sshd.host,
    port: String(sshd.port),
    username: user,
    fingerprint: sshd.hostKeys[0].sha256,
    password,
    source: 'site',
    target: path.join(remote, 'www'),
    ...extra
  })

  test('the password answers the PAM prompt and the upload lands', async () => {
    const run = await runAction(inputs({}), { workspace })
    if (run.code !== 0) console.log(run.stdout, run.stderr)
    expect(run.errors).toEqual([])
    expect(run.code).toBe(0)
    expect(readFileSync(path.join(remote, 'www/index.html'), 'utf8')).toBe('through PAM\n')
    expect(sshd.log()).toMatch(new RegExp(`Accepted keyboard-interactive/pam for ${user} from`))
    expect(unmasked(run.stdout)).not.toContain(password)
  })

  test('a wrong password is one authentication error, asked once', async () => {
    const before = sshd.authAttempts()
    const run = await runAction(inputs({ password: `${password}x` }), { workspace })
    expect(run.code).not.toBe(0)
    expect(run.errors).toHaveLength(1)
    expect(run.errors[0]).toMatch(/rejected the login of user/)
    // The password request (refused: not offered) and one keyboard-interactive round.
    expect(sshd.authAttempts() - before).toBeLessThanOrEqual(2)
  })

  test('with a wrong pin the server sees no login attempt at all', async () => {
    const before = sshd.authAttempts()
    const run = await runAction(
      inputs({
        fingerprint: `SHA256:${Buffer.alloc(32, 7).toString('base64').replace(/=+$/, '')}`
      }),
      { workspace }
    )
    expect(run.code).not.toBe(0)
    expect(run.errors[0]).toMatch(/host key/i)
    expect(sshd.authAttempts()).toBe(before)
  })
})

describe('keyboard-interactive prompts other than the password (embedded server)', () => {
  let server: EmbeddedServer | undefined
  let workspace: string

  beforeAll(() => {
    workspace = makeTempDir('kbd-embedded-ws-')
    mkdirSync(path.join(workspace, 'site'))
    writeFileSync(path.join(workspace, 'site/a.txt'), 'a\n')
  })

  afterAll(async () => {
    await server?.stop()
    removeTempDir(workspace)
  })

  test('a one-time-code prompt fails with one error naming it, escaped, and nothing is answered', async () => {
    server = await startEmbeddedServer({
      password: 'secret-pw',
      keyboardPrompts: [{ prompt: 'Verification code:\n::warning::hi', echo: false }]
    })
    const run = await runAction(
      {
        host: server.host,
        port: String(server.port),
        username: server.username,
        fingerprint: server.hostKey.sha256,
        password: 'secret-pw',
        source: 'site',
        target: 'www'
      },
      { workspace }
    )
    expect(run.code).not.toBe(0)
    expect(run.errors).toHaveLength(1)
    expect(run.errors[0]).toContain('asked the prompt "Verification code:\\n::warning::hi"')
    expect(run.stdout.split('\n').some(line => line.startsWith('::warning::hi'))).toBe(false)
    expect(server.keyboardAnswers()).toEqual([])
    expect(unmasked(run.stdout)).not.toContain('secret-pw')
  })

  test('a password prompt there is answered with the password', async () => {
    await server?.stop()
    server = await startEmbeddedServer({
      password: 'secret-pw',
      keyboardPrompts: [{ prompt: 'Password: ', echo: false }]
    })
    const run = await runAction(
      {
        host: server.host,
        port: String(server.port),
        username: server.username,
        fingerprint: server.hostKey.sha256,
        password: 'secret-pw',
        source: 'site',
        target: 'www'
      },
      { workspace }
    )
    expect(run.errors).toEqual([])
    expect(server.keyboardAnswers()).toEqual([['secret-pw']])
    expect(readFileSync(path.join(server.root, 'www/a.txt'), 'utf8')).toBe('a\n')
  })
})

async function ids(name: string): Promise<{ uid: number; gid: number }> {
  const [uid, gid] = await Promise.all([
    runChecked('id', ['-u', name]),
    runChecked('id', ['-g', name])
  ])
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) }
}

/** The log without the lines that register secrets with the runner (those hold them by design). */
function unmasked(stdout: string): string {
  return stdout
    .split('\n')
    .filter(line => !line.startsWith('::add-mask::'))
    .join('\n')
}
