import { execFileSync } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import ssh2 from 'ssh2'
import { runAction } from '../support/action.js'
import { startSshd, type Sshd } from '../support/sshd.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

interface Form {
  key: string
  passphrase?: string
}

/** Makes a key with ssh-keygen, authorises it on the server, returns the private key text. */
function keygen(sshd: Sshd, dir: string, name: string, args: string[]): string {
  const file = path.join(dir, name)
  execFileSync('ssh-keygen', [...args, '-q', '-C', name, '-f', file])
  appendFileSync(path.join(sshd.dir, 'authorized_keys'), readFileSync(`${file}.pub`))
  return readFileSync(file, 'utf8')
}

describe('every private key form users paste logs in (bundle of src/)', () => {
  let sshd: Sshd
  let workspace: string
  let keys: string
  const forms: Record<string, Form> = {}

  beforeAll(async () => {
    sshd = await startSshd({ hostKeyTypes: ['ed25519'] })
    workspace = makeTempDir('keys-ws-')
    keys = makeTempDir('keys-')
    writeFileSync(path.join(workspace, 'k.txt'), 'key test\n')
    const ed = sshd.clientKey.privatePem
    forms['OpenSSH ed25519'] = { key: ed }
    forms['OpenSSH ecdsa'] = { key: keygen(sshd, keys, 'ecdsa', ['-t', 'ecdsa', '-N', '']) }
    forms['OpenSSH rsa'] = { key: keygen(sshd, keys, 'rsa', ['-t', 'rsa', '-b', '2048', '-N', '']) }
    forms['encrypted OpenSSH ed25519'] = {
      key: keygen(sshd, keys, 'enc', ['-t', 'ed25519', '-N', 'open sesame']),
      passphrase: 'open sesame'
    }
    forms['legacy PEM rsa'] = {
      key: keygen(sshd, keys, 'pem', ['-t', 'rsa', '-b', '2048', '-m', 'PEM', '-N', ''])
    }
    forms['encrypted legacy PEM ecdsa'] = {
      key: keygen(sshd, keys, 'pemenc', ['-t', 'ecdsa', '-m', 'PEM', '-N', 'secret-pw']),
      passphrase: 'secret-pw'
    }
    forms['PKCS#8 rsa'] = {
      key: keygen(sshd, keys, 'p8', ['-t', 'rsa', '-b', '2048', '-m', 'PKCS8', '-N', ''])
    }
    forms['PKCS#8 ed25519'] = { key: pkcs8Ed25519(sshd) }
    forms['CRLF line endings'] = { key: ed.replace(/\n/g, '\r\n') }
    forms['escaped \\n on one line'] = { key: ed.trim().replace(/\n/g, '\\n') }
    forms['indented lines'] = {
      key: ed
        .split('\n')
        .map(l => `    ${l}`)
        .join('\n')
    }
    forms['no final newline'] = { key: ed.trimEnd() }
  })
  afterAll(async () => {
    await sshd?.stop()
    removeTempDir(workspace)
    removeTempDir(keys)
  })

  test('each form uploads a file', async () => {
    expect(Object.keys(forms)).toHaveLength(12)
    for (const [name, form] of Object.entries(forms)) {
      const target = path.join(workspace, 'out', name.replace(/\W+/g, '-'))
      const inputs: Record<string, string> = {
        host: sshd.host,
        port: String(sshd.port),
        username: sshd.username,
        fingerprint: sshd.hostKeys[0].sha256,
        'private-key': form.key,
        source: 'k.txt',
        target
      }
      if (form.passphrase) inputs.passphrase = form.passphrase
      const run = await runAction(inputs, { workspace })
      if (run.code !== 0) throw new Error(`${name}: ${run.errors.join(' | ')}`)
      expect(existsSync(path.join(target, 'k.txt'))).toBe(true)
    }
  })
})

/** ssh-keygen cannot write ed25519 as PKCS#8; node can. */
function pkcs8Ed25519(sshd: Sshd): string {
  const { privateKey } = generateKeyPairSync('ed25519')
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  const jwk = privateKey.export({ format: 'jwk' })
  const raw = Buffer.from(String(jwk.x), 'base64url')
  const blob = Buffer.concat([lp(Buffer.from('ssh-ed25519')), lp(raw)])
  appendFileSync(
    path.join(sshd.dir, 'authorized_keys'),
    `ssh-ed25519 ${blob.toString('base64')} p8\n`
  )
  expect(ssh2.utils.parseKey(pem)).toBeInstanceOf(Error)
  return pem
}

function lp(b: Buffer): Buffer {
  const len = Buffer.alloc(4)
  len.writeUInt32BE(b.length)
  return Buffer.concat([len, b])
}
