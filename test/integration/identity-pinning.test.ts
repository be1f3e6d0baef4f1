import { execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { runAction } from '../support/action.js'
import { startEmbeddedServer, type EmbeddedServer } from '../support/embedded-server.js'
import { startSshd, type HostKey, type Sshd } from '../support/sshd.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

/** Every pin form a user may paste, built with OpenSSH's own tools. */
function pinForms(sshd: Sshd, key: HostKey, dir: string): Record<string, string> {
  const hostPort = `[127.0.0.1]:${sshd.port}`
  const b64 = key.publicLine.split(' ')[1]
  const knownHosts = path.join(dir, `kh-${key.type}`)
  writeFileSync(knownHosts, `${hostPort} ${key.type} ${b64}\n`)
  execFileSync('ssh-keygen', ['-H', '-f', knownHosts], { stdio: 'ignore' })
  const hashed = execFileSync('grep', ['-v', '^#', knownHosts]).toString().trim()
  const keygenLine = execFileSync('ssh-keygen', ['-lf', `${key.path}.pub`])
    .toString()
    .trim()
  const keyscan = execFileSync(
    'ssh-keyscan',
    ['-p', String(sshd.port), '-t', key.type, '127.0.0.1'],
    {
      stdio: ['ignore', 'pipe', 'pipe']
    }
  ).toString()
  const digest = key.sha256.slice('SHA256:'.length)
  return {
    'SHA256 fingerprint': key.sha256,
    'SHA256 with padding': `${key.sha256}=`,
    'SHA256 without prefix': digest,
    'MD5 fingerprint': key.md5,
    'ssh-keygen -l line': keygenLine,
    '.pub line': key.publicLine,
    'known_hosts [host]:port line': `${hostPort},otherhost ${key.type} ${b64}`,
    'hashed known_hosts line': hashed,
    'ssh-keyscan output': keyscan
  }
}

describe('host key pinning against OpenSSH offering ed25519, ecdsa and rsa', () => {
  let sshd: Sshd
  let workspace: string
  let remote: string

  beforeAll(async () => {
    sshd = await startSshd({ hostKeyTypes: ['ed25519', 'ecdsa', 'rsa'] })
    workspace = makeTempDir('pin-ws-')
    remote = makeTempDir('pin-remote-')
    writeFileSync(path.join(workspace, 'hello.txt'), 'hello\n')
  })
  afterAll(async () => {
    await sshd?.stop()
    removeTempDir(workspace)
    removeTempDir(remote)
  })

  const upload = (fingerprint: string, target: string) =>
    runAction(
      {
        host: sshd.host,
        port: String(sshd.port),
        username: sshd.username,
        fingerprint,
        'private-key': sshd.clientKey.privatePem,
        source: 'hello.txt',
        target
      },
      { workspace }
    )

  for (const kind of ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ssh-rsa']) {
    test(`every pin form logs in for the server's ${kind} key`, async () => {
      const key = sshd.hostKeys.find(k => k.type === kind)
      if (!key) throw new Error(`harness has no ${kind} key`)
      const forms = pinForms(sshd, key, workspace)
      for (const [form, pin] of Object.entries(forms)) {
        const target = path.join(remote, kind, form.replace(/\W+/g, '-'))
        const run = await upload(pin, target)
        if (run.code !== 0) throw new Error(`${form} failed: ${run.errors.join(' | ')}`)
        expect(existsSync(path.join(target, 'hello.txt'))).toBe(true)
        expect(run.stdout).toContain(`verified: ${kind} ${key.sha256}`)
        if (form === 'MD5 fingerprint') expect(run.stdout).toMatch(/::warning.*MD5 is weak/)
      }
    })
  }

  const wrongPins: Record<string, () => string> = {
    'a random SHA256': () =>
      `SHA256:${createHash('sha256').update(randomBytes(8)).digest('base64').replace(/=+$/, '')}`,
    'another server ed25519 key': () => {
      const dir = makeTempDir('other-key-')
      execFileSync('ssh-keygen', ['-t', 'ed25519', '-N', '', '-q', '-f', path.join(dir, 'k')])
      return execFileSync('ssh-keygen', ['-lf', path.join(dir, 'k.pub')]).toString()
    },
    'a revoked key next to a valid pin': () => {
      const ed = sshd.hostKeys[0]
      return `@revoked [127.0.0.1]:${sshd.port} ${ed.publicLine}\n${ed.sha256}`
    },
    'a known_hosts line for another port': () => {
      const ed = sshd.hostKeys[0]
      return `[127.0.0.1]:${sshd.port + 1} ${ed.publicLine}\n${randomPin()}`
    }
  }

  for (const [name, pin] of Object.entries(wrongPins)) {
    test(`${name} fails with no authentication attempt on the server`, async () => {
      const before = sshd.authAttempts()
      const target = path.join(remote, 'never')
      const run = await upload(pin(), target)
      expect(run.code).not.toBe(0)
      expect(run.errors).toHaveLength(1)
      expect(run.errors[0]).toMatch(/matches no pin|REVOKED/)
      expect(run.errors[0]).toContain(sshd.hostKeys[0].sha256)
      expect(run.errors[0]).toContain('ssh-keygen -lf')
      expect(run.stdout).not.toMatch(/^\s+at /m)
      expect(sshd.authAttempts()).toBe(before)
      expect(existsSync(target)).toBe(false)
    })
  }

  test('the authentication counter does see a real login (so zero above means zero)', async () => {
    const before = sshd.authAttempts()
    const run = await upload(sshd.hostKeys[0].sha256, path.join(remote, 'counted'))
    expect(run.code).toBe(0)
    expect(sshd.authAttempts()).toBeGreaterThan(before)
  })

  test('a pin for the rsa key alone, untyped, still connects (other key types are skipped)', async () => {
    const rsa = sshd.hostKeys.find(k => k.type === 'ssh-rsa')
    if (!rsa) throw new Error('no rsa key')
    mkdirSync(path.join(remote, 'rsa-untyped'), { recursive: true })
    const run = await upload(rsa.sha256, path.join(remote, 'rsa-untyped'))
    expect(run.errors).toEqual([])
    expect(run.stdout).toContain(`verified: ssh-rsa ${rsa.sha256}`)
  })
})

describe('a server that copied the pinned public key (impostor, embedded ssh2 server)', () => {
  let real: Sshd
  let impostor: EmbeddedServer
  let workspace: string

  beforeAll(async () => {
    real = await startSshd({ hostKeyTypes: ['ed25519'] })
    // It shows the real server's public key but can only sign with its own.
    impostor = await startEmbeddedServer({
      presentKey: real.hostKeys[0].publicLine,
      authorizedKey: real.clientKey.publicLine
    })
    workspace = makeTempDir('impostor-ws-')
    writeFileSync(path.join(workspace, 'hello.txt'), 'hello\n')
    // Big enough to be mid-transfer when the server re-keys.
    writeFileSync(path.join(workspace, 'big.bin'), randomBytes(64 * 1024 * 1024))
  })
  afterAll(async () => {
    await Promise.all([impostor?.stop(), real?.stop()])
    removeTempDir(workspace)
  })

  test('an upload refuses it: the signature does not verify, no credential is sent', async () => {
    const run = await runAction(
      {
        host: impostor.host,
        port: String(impostor.port),
        username: real.username,
        fingerprint: real.hostKeys[0].sha256,
        'private-key': real.clientKey.privatePem,
        source: 'hello.txt',
        target: 'never'
      },
      { workspace }
    )
    expect(run.code).not.toBe(0)
    expect(run.errors).toHaveLength(1)
    expect(run.errors[0]).toMatch(/presented the pinned key .* but could not prove it holds it/)
    expect(impostor.authAttempts()).toBe(0)
  })

  // The server re-keys mid-upload showing the real server's key, which it cannot sign with.
  const rekeys: Array<[string, string, (swapping: EmbeddedServer) => string]> = [
    ['to an unpinned key', 'swapped', swapping => swapping.hostKey.sha256],
    // Both keys pinned: the swapped-in one is accepted, then its signature fails.
    [
      'to another pinned key it cannot sign with',
      'swapped-signed',
      swapping => `${swapping.hostKey.sha256}\n${real.hostKeys[0].sha256}`
    ]
  ]
  for (const [name, target, fingerprint] of rekeys) {
    test(`a live session whose server re-keys ${name} fails as a host-key error`, async () => {
      const swapping = await startEmbeddedServer({
        authorizedKey: real.clientKey.publicLine,
        faults: { rekeySwap: { afterMs: 150, presentKey: real.hostKeys[0].publicLine } }
      })
      try {
        const run = await runAction(
          {
            host: swapping.host,
            port: String(swapping.port),
            username: swapping.username,
            fingerprint: fingerprint(swapping),
            'private-key': real.clientKey.privatePem,
            source: 'big.bin',
            target,
            retries: '1'
          },
          { workspace }
        )
        expect(run.code).not.toBe(0)
        expect(run.errors).toHaveLength(1)
        expect(run.errors[0]).toMatch(/host key changed during the session/)
        expect(existsSync(path.join(swapping.root, target, 'big.bin'))).toBe(false)
      } finally {
        await swapping.stop()
      }
    })
  }

  test("a relay's destination check refuses it before logging in to the source", async () => {
    const before = real.authAttempts()
    const run = await runAction(
      {
        direction: 'relay',
        host: real.host,
        port: String(real.port),
        username: real.username,
        fingerprint: real.hostKeys[0].sha256,
        'private-key': real.clientKey.privatePem,
        source: '/etc/hostname',
        'target-host': impostor.host,
        'target-port': String(impostor.port),
        'target-fingerprint': real.hostKeys[0].sha256,
        target: 'never'
      },
      { workspace }
    )
    expect(run.code).not.toBe(0)
    expect(run.errors).toHaveLength(1)
    expect(run.errors[0]).toMatch(/could not prove it holds it/)
    expect(impostor.authAttempts()).toBe(0)
    expect(real.authAttempts()).toBe(before)
  })
})

function randomPin(): string {
  return `SHA256:${randomBytes(32).toString('base64').replace(/=+$/, '')}`
}
