import { execFileSync } from 'node:child_process'
import { InputError } from '../../src/errors.js'
import {
  looksLikePrivateKey,
  pastedKeyError,
  pastedKeys,
  plainInputs
} from '../../src/inputs/key-material.js'
import { KeyMaker, type RealKey } from './real-keys.js'

let keys: KeyMaker
let ed25519: RealKey
let rsaPem: RealKey
let rsaPkcs8: RealKey
let ecdsaPem: RealKey
let ecdsa384: RealKey
let ecdsa521: RealKey
let encrypted: RealKey

beforeAll(() => {
  keys = new KeyMaker()
  ed25519 = keys.make(['-t', 'ed25519'])
  rsaPem = keys.make(['-t', 'rsa', '-b', '2048', '-m', 'PEM'])
  rsaPkcs8 = keys.make(['-t', 'rsa', '-b', '3072', '-m', 'PKCS8'])
  ecdsaPem = keys.make(['-t', 'ecdsa', '-b', '256', '-m', 'PEM'])
  ecdsa384 = keys.make(['-t', 'ecdsa', '-b', '384', '-m', 'PKCS8'])
  ecdsa521 = keys.make(['-t', 'ecdsa', '-b', '521', '-m', 'PEM'])
  encrypted = keys.make(['-t', 'rsa', '-b', '2048', '-m', 'PEM'], 'sesame')
})

afterAll(() => keys.cleanup())

/** The base64 body of a PEM or OpenSSH key file, without armor or headers. */
const bodyOf = (text: string) =>
  text
    .split('\n')
    .filter(l => l && !l.startsWith('-----') && !l.includes(':'))
    .join('\n')

const openssl = (args: string[]) => execFileSync('openssl', args, { encoding: 'utf8' })

describe('looksLikePrivateKey', () => {
  it('recognises private keys in every form ssh-keygen and OpenSSL write', () => {
    expect(looksLikePrivateKey(encrypted.privateText)).toBe(true)
    // An encrypted PEM body is random bytes: its headers are what give it away.
    const headers = encrypted.privateText.split('\n').filter(l => l.includes(':'))
    expect(headers.map(h => looksLikePrivateKey(h))).toEqual([true, true])
    for (const key of [ed25519, rsaPem, rsaPkcs8, ecdsaPem, ecdsa384, ecdsa521]) {
      expect(looksLikePrivateKey(key.privateText)).toBe(true)
      // As pasted without its armor, on one line, or with literal \n for newlines.
      expect(looksLikePrivateKey(bodyOf(key.privateText))).toBe(true)
      expect(looksLikePrivateKey(bodyOf(key.privateText).replace(/\n/g, ''))).toBe(true)
      expect(looksLikePrivateKey(key.privateText.replace(/\n/g, '\\n'))).toBe(true)
    }
    const encrypt = ['-aes256', '-pass', 'pass:sesame']
    for (const args of [
      ['-algorithm', 'ed25519'],
      ['-algorithm', 'x25519'],
      ['-algorithm', 'ed448'],
      ['-algorithm', 'ed25519', ...encrypt],
      ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', ...encrypt],
      ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', ...encrypt]
    ]) {
      const pem = openssl(['genpkey', ...args])
      expect(looksLikePrivateKey(pem)).toBe(true)
      expect(looksLikePrivateKey(bodyOf(pem))).toBe(true)
    }
  })

  it('recognises a key file stored base64-encoded, but not an encoded public key', () => {
    for (const key of [ed25519, rsaPem, rsaPkcs8, encrypted]) {
      const once = Buffer.from(key.privateText).toString('base64')
      expect(looksLikePrivateKey(once)).toBe(true)
      expect(looksLikePrivateKey(`/srv/${once}`)).toBe(true)
      expect(looksLikePrivateKey(Buffer.from(key.privateText).toString('base64url'))).toBe(true)
    }
    const publicPem = execFileSync('openssl', ['pkey', '-pubout'], {
      input: rsaPem.privateText,
      encoding: 'utf8'
    })
    expect(publicPem).toContain('BEGIN PUBLIC KEY')
    expect(looksLikePrivateKey(Buffer.from(publicPem).toString('base64'))).toBe(false)
  })

  it('recognises a PuTTY key and the armor lines alone', () => {
    expect(looksLikePrivateKey('PuTTY-User-Key-File-2: ssh-rsa\nEncryption: none')).toBe(true)
    expect(looksLikePrivateKey('PuTTY-User-Key-File-3: ssh-ed25519')).toBe(true)
    expect(looksLikePrivateKey('Private-Lines: 1\nAAAAIE0')).toBe(true)
    expect(looksLikePrivateKey('-----BEGIN OPENSSH PRIVATE KEY-----')).toBe(true)
    expect(looksLikePrivateKey('x -----END EC PRIVATE KEY----- y')).toBe(true)
    expect(looksLikePrivateKey('---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----')).toBe(true)
  })

  it('accepts what pin inputs take: fingerprints, public keys, known_hosts and keygen lines', () => {
    const all = [ed25519, rsaPem, rsaPkcs8, ecdsaPem, ecdsa384, ecdsa521, encrypted]
    for (const key of all) {
      for (const value of [
        key.sha256,
        key.md5,
        key.listing,
        key.publicLine,
        `${key.publicLine} deploy@example`,
        `[127.0.0.1]:2222 ${key.publicLine}`,
        `@revoked * ${key.publicLine}`,
        key.blob.toString('base64')
      ]) {
        expect([value, looksLikePrivateKey(value)]).toEqual([value, false])
      }
    }
    const pem = openssl(['genpkey', '-algorithm', 'ed25519'])
    const publicPem = execFileSync('openssl', ['pkey', '-pubout'], { input: pem, encoding: 'utf8' })
    expect(looksLikePrivateKey(publicPem)).toBe(false)
    expect(looksLikePrivateKey(bodyOf(publicPem))).toBe(false)
  })

  it('accepts ordinary host names, paths and choices', () => {
    for (const value of [
      'sftp.example.com',
      'web1.example.com:2222, [::1]:22',
      '/var/www/site',
      'dist/**/*.html\n!*.map',
      'MIGRATIONS/**',
      'upload',
      '20261125T160102Z-abc1234'
    ]) {
      expect(looksLikePrivateKey(value)).toBe(false)
    }
  })
})

describe('plainInputs', () => {
  it('takes every INPUT_ variable but the secret ones, named as in the workflow', () => {
    const env = {
      INPUT_HOST: 'h',
      'INPUT_TARGET-HOST': 't',
      'INPUT_PRIVATE-KEY': 'secret',
      'INPUT_TARGET-JUMP-PASSWORD': 'secret',
      INPUT_PASSPHRASE: 'secret',
      INPUT_PRIVATE_KEY: 'a misspelt input is not a secret input',
      INPUT_SOURCE: '',
      PATH: '/usr/bin'
    }
    expect(plainInputs(env).map(i => i.name)).toEqual(['host', 'private_key', 'target-host'])
  })
})

describe('pastedKeys and pastedKeyError', () => {
  it('names the input and the others, and never the value', () => {
    const found = pastedKeys([
      { name: 'host', value: ed25519.privateText },
      { name: 'port', value: '22' },
      { name: 'target', value: rsaPem.privateText }
    ])
    expect(found.map(f => f.name)).toEqual(['host', 'target'])
    const error = pastedKeyError(found)
    expect(error).toBeInstanceOf(InputError)
    expect(error.input).toBe('host')
    expect(error.message).toMatch(/^Input 'host': holds what looks like a private key/)
    expect(error.message).toContain("So do 'target'.")
    for (const line of [
      ...bodyOf(ed25519.privateText).split('\n'),
      ...bodyOf(rsaPem.privateText).split('\n')
    ]) {
      expect(error.message).not.toContain(line)
    }
  })
})
