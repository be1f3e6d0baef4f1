import { execFileSync } from 'node:child_process'
import {
  createCipheriv,
  createHash,
  createHmac,
  createPublicKey,
  generateKeyPairSync
} from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import ssh2 from 'ssh2'
import { InputError } from '../../src/errors.js'
import { preparePrivateKey, type PreparedKey } from '../../src/inputs/keys.js'

const KEY_INPUT = 'ssh-private-key'
const PASS_INPUT = 'ssh-passphrase'
const PASS = 'correct horse battery'
const SSH_KEYGEN = '/usr/bin/ssh-keygen'

/** A real private key as a user would paste it, and the public key it must yield. */
interface Fixture {
  name: string
  text: string
  passphrase?: string
  /** Base64 of the SSH public key blob, the second field of the .pub line. */
  publicBase64: string
  type: string
}

let dir: string
const fixtures = new Map<string, Fixture>()

function fixture(name: string): Fixture {
  const found = fixtures.get(name)
  if (!found) throw new Error(`no fixture ${name}`)
  return found
}

function keygen(name: string, args: string[], passphrase?: string): void {
  const file = join(dir, name)
  execFileSync(SSH_KEYGEN, [
    '-q',
    '-C',
    'test@example',
    '-N',
    passphrase ?? '',
    '-f',
    file,
    ...args
  ])
  const [type, publicBase64] = readFileSync(`${file}.pub`, 'utf8').split(' ')
  fixtures.set(name, { name, text: readFileSync(file, 'utf8'), passphrase, publicBase64, type })
}

function sshString(value: string | Buffer): Buffer {
  const data = Buffer.from(value)
  const length = Buffer.alloc(4)
  length.writeUInt32BE(data.length)
  return Buffer.concat([length, data])
}

/** SSH mpint: big-endian, with a leading zero byte when the top bit is set. */
function mpint(base64url: string | undefined): Buffer {
  const bytes = Buffer.from(base64url ?? '', 'base64url')
  return sshString(bytes[0] & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes)
}

/** Node generates Ed25519 PKCS#8 (ssh-keygen 9.2 cannot); the SPKI DER ends in the raw key. */
function nodeEd25519(name: string, passphrase?: string): void {
  const cipher = passphrase ? { cipher: 'aes-256-cbc', passphrase } : {}
  const { privateKey, publicKey } = generateKeyPairSync('ed25519', {
    privateKeyEncoding: { type: 'pkcs8', format: 'pem', ...cipher },
    publicKeyEncoding: { type: 'spki', format: 'der' }
  })
  const raw = publicKey.subarray(publicKey.length - 32)
  const blob = Buffer.concat([sshString('ssh-ed25519'), sshString(raw)])
  const type = 'ssh-ed25519'
  fixtures.set(name, {
    name,
    text: privateKey,
    passphrase,
    publicBase64: blob.toString('base64'),
    type
  })
}

function wrap64(data: Buffer): string[] {
  return data.toString('base64').match(/.{1,64}/g) ?? []
}

/** No puttygen here, so write a PPK v2 RSA file by its spec (as ssh2's parser reads it). */
function puttyRsa(name: string, passphrase?: string): void {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const jwk = privateKey.export({ format: 'jwk' })
  const publicBlob = Buffer.concat([sshString('ssh-rsa'), mpint(jwk.e), mpint(jwk.n)])
  let plain = Buffer.concat([mpint(jwk.d), mpint(jwk.p), mpint(jwk.q), mpint(jwk.qi)])
  const encryption = passphrase ? 'aes256-cbc' : 'none'
  const comment = 'test@example'
  let stored = plain
  if (passphrase) {
    plain = Buffer.concat([plain, Buffer.alloc((16 - (plain.length % 16)) % 16, 7)])
    const hash = (n: number) =>
      createHash('sha1')
        .update(Buffer.from([0, 0, 0, n]))
        .update(passphrase)
    const key = Buffer.concat([hash(0).digest(), hash(1).digest()]).subarray(0, 32)
    const cipher = createCipheriv('aes-256-cbc', key, Buffer.alloc(16)).setAutoPadding(false)
    stored = Buffer.concat([cipher.update(plain), cipher.final()])
  }
  const macKey = createHash('sha1')
    .update('putty-private-key-file-mac-key')
    .update(passphrase ?? '')
    .digest()
  const macData = [sshString('ssh-rsa'), sshString(encryption), sshString(comment)]
  const mac = createHmac('sha1', macKey)
    .update(Buffer.concat([...macData, sshString(publicBlob), sshString(plain)]))
    .digest('hex')
  const publicLines = wrap64(publicBlob)
  const privateLines = wrap64(stored)
  const text = [
    'PuTTY-User-Key-File-2: ssh-rsa',
    `Encryption: ${encryption}`,
    `Comment: ${comment}`,
    `Public-Lines: ${publicLines.length}`,
    ...publicLines,
    `Private-Lines: ${privateLines.length}`,
    ...privateLines,
    `Private-MAC: ${mac}`,
    ''
  ].join('\n')
  const publicBase64 = publicBlob.toString('base64')
  fixtures.set(name, { name, text, passphrase, publicBase64, type: 'ssh-rsa' })
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'keys-test-'))
  keygen('openssh-ed25519', ['-t', 'ed25519'])
  keygen('openssh-ecdsa', ['-t', 'ecdsa'])
  keygen('openssh-rsa', ['-t', 'rsa', '-b', '2048'])
  keygen('openssh-ed25519-encrypted', ['-t', 'ed25519'], PASS)
  keygen('openssh-rsa-encrypted', ['-t', 'rsa', '-b', '2048'], PASS)
  keygen('pem-rsa', ['-t', 'rsa', '-b', '2048', '-m', 'PEM'])
  keygen('pem-ecdsa', ['-t', 'ecdsa', '-m', 'PEM'])
  keygen('pem-rsa-encrypted', ['-t', 'rsa', '-b', '2048', '-m', 'PEM'], PASS)
  keygen('pem-ecdsa-encrypted', ['-t', 'ecdsa', '-b', '384', '-m', 'PEM'], PASS)
  keygen('pkcs8-rsa', ['-t', 'rsa', '-b', '2048', '-m', 'PKCS8'])
  keygen('pkcs8-ecdsa', ['-t', 'ecdsa', '-m', 'PKCS8'])
  keygen('pkcs8-ecdsa-521', ['-t', 'ecdsa', '-b', '521', '-m', 'PKCS8'])
  keygen('pkcs8-rsa-encrypted', ['-t', 'rsa', '-b', '2048', '-m', 'PKCS8'], PASS)
  keygen('pkcs8-ecdsa-encrypted', ['-t', 'ecdsa', '-m', 'PKCS8'], PASS)
  nodeEd25519('pkcs8-ed25519')
  nodeEd25519('pkcs8-ed25519-encrypted', PASS)
  puttyRsa('ppk-rsa')
  puttyRsa('ppk-rsa-encrypted', PASS)
})

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true })
})

function prepare(text: string, passphrase?: string): PreparedKey {
  return preparePrivateKey(text, passphrase, KEY_INPUT, PASS_INPUT)
}

/** Proves ssh2 reads the result and that it is the same key as the .pub says. */
function expectSameKey(prepared: PreparedKey, expected: Fixture): void {
  const parsed = ssh2.utils.parseKey(prepared.key, prepared.passphrase)
  if (parsed instanceof Error) throw parsed
  expect(parsed.isPrivateKey()).toBe(true)
  expect(parsed.getPublicSSH().toString('base64')).toBe(expected.publicBase64)
  expect(prepared.keyType).toBe(expected.type)
}

function nonEmptyLines(text: string): string[] {
  return text.split(/\r?\n/).filter(line => line.trim() !== '')
}

function expectMasksRaw(prepared: PreparedKey, raw: string): void {
  for (const line of nonEmptyLines(raw)) expect(prepared.secrets).toContain(line)
}

const ALL = [
  'openssh-ed25519',
  'openssh-ecdsa',
  'openssh-rsa',
  'openssh-ed25519-encrypted',
  'openssh-rsa-encrypted',
  'pem-rsa',
  'pem-ecdsa',
  'pem-rsa-encrypted',
  'pem-ecdsa-encrypted',
  'pkcs8-rsa',
  'pkcs8-ecdsa',
  'pkcs8-ecdsa-521',
  'pkcs8-rsa-encrypted',
  'pkcs8-ecdsa-encrypted',
  'pkcs8-ed25519',
  'pkcs8-ed25519-encrypted',
  'ppk-rsa',
  'ppk-rsa-encrypted'
]

describe('preparePrivateKey: formats', () => {
  test.each(ALL)('%s yields the same key, readable by ssh2', name => {
    const key = fixture(name)
    const prepared = prepare(key.text, key.passphrase)
    expectSameKey(prepared, key)
    expectMasksRaw(prepared, key.text)
    expect(prepared.secrets).toContain(prepared.key)
  })

  test.each(ALL.filter(name => name.startsWith('pkcs8')))(
    '%s is converted to a form ssh2 reads, and needs no passphrase after',
    name => {
      const prepared = prepare(fixture(name).text, fixture(name).passphrase)
      expect(prepared.key).not.toMatch(/BEGIN (ENCRYPTED )?PRIVATE KEY/)
      expect(prepared.key).toMatch(/^-----BEGIN (RSA|EC|OPENSSH) PRIVATE KEY-----\n/)
      expect(prepared.passphrase).toBeUndefined()
      for (const line of nonEmptyLines(prepared.key)) expect(prepared.secrets).toContain(line)
    }
  )

  test('Ed25519 PKCS#8 becomes an unencrypted OpenSSH key wrapped at 70 columns', () => {
    const prepared = prepare(fixture('pkcs8-ed25519').text)
    const lines = prepared.key.trimEnd().split('\n')
    expect(lines[0]).toBe('-----BEGIN OPENSSH PRIVATE KEY-----')
    expect(lines.at(-1)).toBe('-----END OPENSSH PRIVATE KEY-----')
    expect(lines.slice(1, -2).every(line => line.length === 70)).toBe(true)
    const parsed = ssh2.utils.parseKey(prepared.key)
    expect(parsed instanceof Error ? parsed.message : parsed.type).toBe('ssh-ed25519')
  })

  test('keeps the passphrase for formats ssh2 decrypts itself', () => {
    expect(prepare(fixture('openssh-ed25519-encrypted').text, PASS).passphrase).toBe(PASS)
    expect(prepare(fixture('pem-rsa-encrypted').text, PASS).passphrase).toBe(PASS)
  })

  test('an empty passphrase input counts as none', () => {
    const key = fixture('openssh-ed25519')
    expect(prepare(key.text, '').passphrase).toBeUndefined()
  })

  test('a file holding the public line and the private key uses the private key', () => {
    const key = fixture('openssh-ecdsa')
    const text = `${key.type} ${key.publicBase64} test@example\n${key.text}`
    expectSameKey(prepare(text), key)
  })
})

const MANGLINGS: Record<string, (text: string) => string> = {
  'CRLF line endings': text => text.replace(/\n/g, '\r\n'),
  'escaped \\n on one line': text => text.replace(/\n/g, '\\n'),
  'escaped \\r\\n on one line': text => text.replace(/\n/g, '\\r\\n'),
  'indented lines': text => text.replace(/^/gm, '    '),
  'trailing spaces': text => text.replace(/\n/g, '   \n'),
  'no final newline': text => text.trimEnd(),
  'blank lines around': text => `\n\n  \n${text}\n\n\n`,
  'body collapsed onto one line': text => text.trim().replace(/\n/g, ' '),
  'all at once': text => `\r\n\r\n${text.replace(/^(.*)\n/gm, '\t$1  \r\n')}\r\n  `
}

describe('preparePrivateKey: repairs pasted keys', () => {
  const names = ['openssh-ed25519', 'pem-rsa-encrypted', 'pkcs8-ed25519-encrypted', 'ppk-rsa']
  const cases = names.flatMap(name =>
    Object.keys(MANGLINGS)
      // A PuTTY file has no armor, so its line structure cannot be rebuilt from one line.
      .filter(mangling => !(name.startsWith('ppk') && mangling === 'body collapsed onto one line'))
      .map(mangling => [name, mangling])
  )

  test.each(cases)('%s with %s', (name, mangling) => {
    const key = fixture(name)
    const raw = MANGLINGS[mangling](key.text)
    expect(raw).not.toBe(key.text)
    const prepared = prepare(raw, key.passphrase)
    expectSameKey(prepared, key)
    expectMasksRaw(prepared, raw)
    expect(prepared.secrets).toContain(prepared.key)
  })

  test('a collapsed legacy PEM keeps its encryption headers', () => {
    const key = fixture('pem-rsa-encrypted')
    const prepared = prepare(MANGLINGS['body collapsed onto one line'](key.text), PASS)
    expect(prepared.key).toMatch(
      /^-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,[0-9A-F]+\n\n/
    )
  })
})

/** Runs `fn`, expecting an InputError for `input` that repeats no part of `secret`. */
function expectInputError(fn: () => unknown, input: string, secret: string): InputError {
  let caught: unknown
  try {
    fn()
  } catch (error) {
    caught = error
  }
  expect(caught).toBeInstanceOf(InputError)
  const error = caught as InputError
  expect(error.input).toBe(input)
  expect(error.message).toContain(`'${input}'`)
  // Very short lines (the tail of a base64 body) could occur in any text by chance.
  const lines = nonEmptyLines(secret).map(line => line.trim())
  for (const line of lines.filter(line => line.length >= 8)) {
    expect(error.message).not.toContain(line)
  }
  expect(error.message).not.toContain(PASS)
  return error
}

describe('preparePrivateKey: errors', () => {
  function publicForms(): Record<string, string> {
    const ed = fixture('openssh-ed25519')
    const rsaPub = join(dir, 'pem-rsa.pub')
    const exportAs = (format: string) =>
      execFileSync(SSH_KEYGEN, ['-e', '-m', format, '-f', rsaPub], { encoding: 'utf8' })
    const pkcs8 = createPublicKey(fixture('pkcs8-ed25519').text)
    return {
      'a .pub line': `${ed.type} ${ed.publicBase64} test@example\n`,
      'BEGIN OPENSSH PUBLIC KEY': `-----BEGIN OPENSSH PUBLIC KEY-----\n${ed.publicBase64}\n-----END OPENSSH PUBLIC KEY-----\n`,
      'BEGIN PUBLIC KEY': String(pkcs8.export({ type: 'spki', format: 'pem' })),
      'BEGIN RSA PUBLIC KEY': exportAs('PEM'),
      'BEGIN SSH2 PUBLIC KEY': exportAs('RFC4716')
    }
  }

  test.each([
    'a .pub line',
    'BEGIN OPENSSH PUBLIC KEY',
    'BEGIN PUBLIC KEY',
    'BEGIN RSA PUBLIC KEY',
    'BEGIN SSH2 PUBLIC KEY'
  ])('%s is reported as a public key', form => {
    const text = publicForms()[form]
    const error = expectInputError(() => prepare(text), KEY_INPUT, text)
    expect(error.message).toMatch(/public key/)
    expect(error.message).toContain('~/.ssh/id_ed25519')
    expect(error.message).toContain('.pub')
  })

  const encrypted = [
    'openssh-ed25519-encrypted',
    'pem-rsa-encrypted',
    'pkcs8-ed25519-encrypted',
    'pkcs8-rsa-encrypted',
    'ppk-rsa-encrypted'
  ]

  test.each(encrypted)('%s without a passphrase names the passphrase input', name => {
    const key = fixture(name)
    for (const passphrase of [undefined, '']) {
      const error = expectInputError(() => prepare(key.text, passphrase), PASS_INPUT, key.text)
      expect(error.message).toMatch(/encrypted/)
      expect(error.message).toContain(`'${KEY_INPUT}'`)
    }
  })

  test.each(encrypted)('%s with the wrong passphrase says it does not decrypt', name => {
    const key = fixture(name)
    const error = expectInputError(() => prepare(key.text, 'wrong pass'), PASS_INPUT, key.text)
    expect(error.message).toMatch(/does not decrypt the key/)
    expect(error.message).not.toContain('wrong pass')
  })

  test.each([
    ['arbitrary text', 'not a key at all'],
    [
      'an unknown PEM block',
      '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n'
    ],
    [
      'an OpenSSH block with garbage inside',
      '-----BEGIN OPENSSH PRIVATE KEY-----\nZ2FyYmFnZSBnYXJiYWdlIGdhcmJhZ2UgZ2FyYmFnZSBnYXJiYWdl\n-----END OPENSSH PRIVATE KEY-----\n'
    ],
    [
      'a PKCS#8 block with garbage inside',
      '-----BEGIN PRIVATE KEY-----\nZ2FyYmFnZSBnYXJiYWdlIGdhcmJhZ2UgZ2FyYmFnZSBnYXJiYWdl\n-----END PRIVATE KEY-----\n'
    ]
  ])('%s names the accepted formats', (_label, text) => {
    const error = expectInputError(() => prepare(text), KEY_INPUT, text)
    expect(error.message).toContain('Accepted formats: OpenSSH (BEGIN OPENSSH PRIVATE KEY)')
    expect(error.message).toContain('PKCS#8')
  })

  test('a key cut off before its END line says so', () => {
    const text = fixture('openssh-ed25519').text.split('\n').slice(0, -3).join('\n')
    const error = expectInputError(() => prepare(text), KEY_INPUT, text)
    expect(error.message).toMatch(/no matching END line/)
  })

  test('an empty key is rejected', () => {
    expectInputError(() => prepare(' \n\\n \r\n'), KEY_INPUT, '')
  })

  test('a PuTTY version 3 key points to exporting it as OpenSSH', () => {
    const text = fixture('ppk-rsa').text.replace('PuTTY-User-Key-File-2', 'PuTTY-User-Key-File-3')
    const error = expectInputError(() => prepare(text), KEY_INPUT, text)
    expect(error.message).toMatch(/Export OpenSSH key/)
  })

  test.each([
    ['ed448', () => generateKeyPairSync('ed448').privateKey],
    ['secp256k1', () => generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey]
  ])('a PKCS#8 %s key is refused with the usable types', (kind, generate) => {
    const pem = String(generate().export({ type: 'pkcs8', format: 'pem' }))
    const error = expectInputError(() => prepare(pem), KEY_INPUT, pem)
    expect(error.message).toContain(`holds a ${kind} key`)
    expect(error.message).toMatch(/Use an Ed25519, ECDSA/)
  })

  test('a key whose private part was altered fails the self-test', () => {
    const key = fixture('openssh-ed25519')
    const body = key.text.split('\n').slice(1, -2).join('')
    const blob = Buffer.from(body, 'base64')
    const publicKey = Buffer.from(key.publicBase64, 'base64').subarray(-32)
    // The private section stores seed || public; flip a bit of the seed.
    blob[blob.lastIndexOf(publicKey) - 32] ^= 1
    const lines = blob.toString('base64').match(/.{1,70}/g) ?? []
    const text = [
      '-----BEGIN OPENSSH PRIVATE KEY-----',
      ...lines,
      '-----END OPENSSH PRIVATE KEY-----'
    ].join('\n')
    const error = expectInputError(() => prepare(text), KEY_INPUT, text)
    expect(error.message).toMatch(/damaged/)
  })
})
