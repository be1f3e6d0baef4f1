import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { runAction, type ActionRun } from '../support/action.js'
import { CONNECTION_PATTERN, startSshd, type Sshd } from '../support/sshd.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

/**
 * A private key pasted into a plain input (not a secret) must be refused before it can be echoed
 * in an error, sent to a server as a host name or path, or written into the manifest, and masked
 * so that no later line could show it either.
 */
describe('a private key in a non-secret input is refused unseen (OpenSSH)', () => {
  let sshd: Sshd
  let workspace: string
  let keys: string
  let ed25519: string
  let rsa: string

  beforeAll(async () => {
    sshd = await startSshd({ hostKeyTypes: ['ed25519'] })
    workspace = makeTempDir('pasted-ws-')
    keys = makeTempDir('pasted-keys-')
    writeFileSync(path.join(workspace, 'a.txt'), 'a\n')
    const make = (name: string, args: string[]) => {
      execFileSync('ssh-keygen', ['-q', ...args, '-N', '', '-f', path.join(keys, name)])
      return readFileSync(path.join(keys, name), 'utf8')
    }
    ed25519 = make('ed', ['-t', 'ed25519'])
    rsa = make('rsa', ['-t', 'rsa', '-b', '2048', '-m', 'PEM'])
  })

  afterAll(async () => {
    await sshd?.stop()
    removeTempDir(workspace)
    removeTempDir(keys)
  })

  const connections = () => (sshd.log().match(CONNECTION_PATTERN) ?? []).length

  /** The lines that are secret: the body, not the public armor lines. */
  const bodyLines = (key: string) =>
    key.split('\n').filter(l => l.trim().length > 0 && !l.startsWith('-----'))

  function expectNowhere(run: ActionRun, key: string): void {
    const shown = [
      ...run.stdout.split('\n').filter(l => !l.startsWith('::add-mask::')),
      run.stderr,
      run.summary,
      JSON.stringify(run.outputs)
    ].join('\n')
    for (const line of bodyLines(key)) {
      expect(shown).not.toContain(line)
      // Masked, so that no later line (the runner's own included) can show it either.
      expect(run.stdout).toContain(`::add-mask::${line}`)
    }
  }

  test.each([
    ['host', 'upload', () => ed25519],
    ['source', 'download', () => ed25519],
    ['source', 'upload', () => rsa],
    ['target', 'upload', () => rsa],
    ['target', 'download', () => ed25519.trim().replace(/\n/g, '\\n')]
  ])('in %s (%s)', async (input, direction, key) => {
    const pasted = key()
    const before = { connections: connections(), auth: sshd.authAttempts() }
    const run = await runAction(
      {
        direction,
        host: sshd.host,
        port: String(sshd.port),
        username: sshd.username,
        fingerprint: sshd.hostKeys[0].sha256,
        'private-key': sshd.clientKey.privatePem,
        source: direction === 'upload' ? 'a.txt' : '/etc/hostname',
        target: direction === 'upload' ? path.join(keys, 'remote') : 'pulled',
        [input]: pasted
      },
      { workspace }
    )
    expect(run.code).not.toBe(0)
    expect(run.errors).toHaveLength(1)
    expect(run.errors[0]).toMatch(
      new RegExp(`^Input '${input}': holds what looks like a private key`)
    )
    expect(run.outputs.manifest).toBeUndefined()
    expectNowhere(run, pasted.includes('\\n') ? pasted.split('\\n').join('\n') : pasted)
    // Let sshd log anything that reached it, then check nothing did.
    await new Promise(resolve => setTimeout(resolve, 300))
    expect(connections()).toBe(before.connections)
    expect(sshd.authAttempts()).toBe(before.auth)
  })
})
