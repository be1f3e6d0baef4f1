import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  ALL_HOST_KEY_TYPES,
  hostKeyAlgorithmsFor,
  keyTypeOf,
  md5Fingerprint,
  sha256Fingerprint,
  sshFields,
  validateKeyBlob
} from '../../src/identity/fingerprint.js'

const KEYGEN = '/usr/bin/ssh-keygen'

interface RealKey {
  name: string
  pubFile: string
  keyType: string
  blob: Buffer
}

const KINDS: Array<[string, string[]]> = [
  ['ed25519', ['-t', 'ed25519']],
  ['ecdsa256', ['-t', 'ecdsa', '-b', '256']],
  ['ecdsa384', ['-t', 'ecdsa', '-b', '384']],
  ['ecdsa521', ['-t', 'ecdsa', '-b', '521']],
  ['rsa', ['-t', 'rsa', '-b', '2048']],
  ['dsa', ['-t', 'dsa']]
]

let dir: string
const keys: RealKey[] = []

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'identity-fp-'))
  for (const [name, args] of KINDS) {
    const file = join(dir, name)
    execFileSync(KEYGEN, ['-q', ...args, '-N', '', '-C', `test ${name}`, '-f', file])
    const [keyType, base64] = readFileSync(`${file}.pub`, 'utf8').trim().split(/\s+/)
    keys.push({ name, pubFile: `${file}.pub`, keyType, blob: Buffer.from(base64, 'base64') })
  }
})

afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** The fingerprint field of `ssh-keygen -l` output: what OpenSSH itself says. */
function keygenFingerprint(pubFile: string, hash: 'sha256' | 'md5'): string {
  return execFileSync(KEYGEN, ['-E', hash, '-lf', pubFile], { encoding: 'utf8' }).split(' ')[1]
}

describe('fingerprints agree with ssh-keygen -l', () => {
  test.each(KINDS.map(([name]) => name))('%s', name => {
    const key = keys.find(k => k.name === name)!
    expect(sha256Fingerprint(key.blob)).toBe(keygenFingerprint(key.pubFile, 'sha256'))
    expect(md5Fingerprint(key.blob)).toBe(keygenFingerprint(key.pubFile, 'md5'))
    expect(sha256Fingerprint(key.blob)).not.toContain('=')
    expect(md5Fingerprint(key.blob)).toMatch(/^MD5:([0-9a-f]{2}:){15}[0-9a-f]{2}$/)
  })
})

describe('keyTypeOf', () => {
  test.each(KINDS.map(([name]) => name))('reads the type embedded in a real %s key', name => {
    const key = keys.find(k => k.name === name)!
    expect(keyTypeOf(key.blob)).toBe(key.keyType)
    expect(validateKeyBlob(key.blob)).toBe(key.keyType)
  })

  test('names the expected types', () => {
    expect(keys.map(k => k.keyType)).toEqual([
      'ssh-ed25519',
      'ecdsa-sha2-nistp256',
      'ecdsa-sha2-nistp384',
      'ecdsa-sha2-nistp521',
      'ssh-rsa',
      'ssh-dss'
    ])
  })

  test.each([
    ['empty', Buffer.alloc(0)],
    ['shorter than a length prefix', Buffer.from([0, 0, 0])],
    ['zero-length type', Buffer.from([0, 0, 0, 0, 1])],
    ['length past the end', Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed')])],
    ['absurd length', Buffer.concat([Buffer.from([0xff, 0, 0, 0]), Buffer.alloc(64)])],
    ['binary type name', Buffer.from([0, 0, 0, 2, 0x00, 0x20])]
  ])('throws on a malformed blob: %s', (_name, blob) => {
    expect(() => keyTypeOf(blob)).toThrow(Error)
  })
})

describe('validateKeyBlob', () => {
  test('rejects a truncated key', () => {
    const ed = keys.find(k => k.name === 'ed25519')!.blob
    expect(() => validateKeyBlob(ed.subarray(0, ed.length - 1))).toThrow(/past the end/)
    expect(() => validateKeyBlob(ed.subarray(0, 15))).toThrow(/incomplete|damaged/)
  })

  test('rejects trailing garbage', () => {
    const ed = keys.find(k => k.name === 'ed25519')!.blob
    expect(() => validateKeyBlob(Buffer.concat([ed, Buffer.from([0, 0])]))).toThrow()
  })

  test('rejects an ECDSA key whose curve field disagrees with its type', () => {
    const ec = keys.find(k => k.name === 'ecdsa256')!.blob
    const swapped = Buffer.from(ec)
    swapped.write('nistp384', 4 + 19 + 4, 'latin1')
    expect(keyTypeOf(swapped)).toBe('ecdsa-sha2-nistp256')
    expect(() => validateKeyBlob(swapped)).toThrow(/different curve/)
  })

  test('rejects an unsupported type', () => {
    const name = Buffer.from('ssh-ed448')
    const blob = Buffer.concat([Buffer.from([0, 0, 0, name.length]), name])
    expect(() => validateKeyBlob(blob)).toThrow(/not supported/)
  })

  test('sshFields splits length-prefixed fields', () => {
    const ed = keys.find(k => k.name === 'ed25519')!.blob
    const fields = sshFields(ed)
    expect(fields.map(f => f.length)).toEqual([11, 32])
    expect(fields[0].toString()).toBe('ssh-ed25519')
  })
})

describe('host key algorithms', () => {
  test('each key type maps to the algorithms that present it', () => {
    expect(hostKeyAlgorithmsFor('ssh-ed25519')).toEqual(['ssh-ed25519'])
    expect(hostKeyAlgorithmsFor('ecdsa-sha2-nistp256')).toEqual(['ecdsa-sha2-nistp256'])
    expect(hostKeyAlgorithmsFor('ecdsa-sha2-nistp384')).toEqual(['ecdsa-sha2-nistp384'])
    expect(hostKeyAlgorithmsFor('ecdsa-sha2-nistp521')).toEqual(['ecdsa-sha2-nistp521'])
    expect(hostKeyAlgorithmsFor('ssh-rsa')).toEqual(['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'])
    expect(hostKeyAlgorithmsFor('ssh-dss')).toEqual(['ssh-dss'])
    expect(() => hostKeyAlgorithmsFor('ssh-ed448')).toThrow(/ssh-ed448/)
  })

  test("ALL_HOST_KEY_TYPES expands to exactly ssh2's default serverHostKey list", () => {
    // Read ssh2's own constant so a future ssh2 reordering shows up here.
    const require = createRequire(import.meta.url)
    const constants = require('ssh2/lib/protocol/constants.js') as {
      DEFAULT_SERVER_HOST_KEY: string[]
      SUPPORTED_SERVER_HOST_KEY: string[]
    }
    expect(ALL_HOST_KEY_TYPES.flatMap(hostKeyAlgorithmsFor)).toEqual(
      constants.DEFAULT_SERVER_HOST_KEY
    )
    expect(constants.SUPPORTED_SERVER_HOST_KEY).toContain('ssh-dss')
  })
})
