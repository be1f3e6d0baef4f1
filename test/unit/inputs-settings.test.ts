import * as path from 'node:path'
import { InputError } from '../../src/errors.js'
import {
  formatHostPort,
  readSettings,
  type Endpoint,
  type RunnerEnv,
  type Settings,
  type UploadSettings
} from '../../src/inputs/settings.js'
import { normalizeRemoteDir } from '../../src/plans/remote-lister.js'
import { KeyMaker, thrown, type RealKey } from './real-keys.js'

const env: RunnerEnv = { workspace: '/home/runner/work/repo/repo', tempDir: '/home/runner/_temp' }
const PASSPHRASE = 'unit passphrase 42'

let keys: KeyMaker
let login: RealKey
let encrypted: RealKey
let host: RealKey

beforeAll(() => {
  keys = new KeyMaker()
  login = keys.make(['-t', 'ed25519'])
  encrypted = keys.make(['-t', 'ed25519'], PASSPHRASE)
  host = keys.make(['-t', 'ed25519'])
})

afterAll(() => keys.cleanup())

/** The one server a single-host configuration names. */
function server(settings: Settings): Endpoint {
  expect(settings.servers).toHaveLength(1)
  return settings.servers[0]
}

/** The settings of an upload: the only direction with sync, delete, release and rollback. */
function upload(settings: Settings): UploadSettings {
  if (settings.direction !== 'upload') throw new Error(`${settings.direction}, not upload`)
  return settings
}

/** A full, valid set of inputs; each test changes only what it is about. */
function inputs(overrides: Record<string, string> = {}): (name: string) => string {
  const values: Record<string, string> = {
    host: 'sftp.example.com',
    username: 'deploy',
    fingerprint: host.sha256,
    'private-key': login.privateText,
    source: 'dist/',
    target: '/var/www/site',
    ...overrides
  }
  return name => values[name] ?? ''
}

function expectInputError(overrides: Record<string, string>, input: string, fragment?: RegExp) {
  const error = thrown(() => readSettings(inputs(overrides), env))
  expect(error).toBeInstanceOf(InputError)
  const inputErr = error as InputError
  expect(inputErr.input).toBe(input)
  expect(inputErr.message).toContain(`Input '${input}'`)
  if (fragment) expect(inputErr.message).toMatch(fragment)
}

describe('readSettings defaults', () => {
  it('fills in direction, port, timeout and concurrency when unset', () => {
    const settings = readSettings(inputs(), env)
    expect(settings.direction).toBe('upload')
    expect(server(settings).port).toBe(22)
    expect(settings.timeoutMs).toBe(30_000)
    expect(settings.concurrency).toBe(1024)
    expect(settings.warnings).toEqual([])
    expect(settings.workspace).toBe(env.workspace)
    expect(path.dirname(settings.manifestPath)).toBe(env.tempDir)
    expect(path.basename(settings.manifestPath)).toMatch(/^sftp-manifest-.*\.json$/)
  })

  it('carries host, user, source and pins into the settings', () => {
    const settings = readSettings(inputs({ source: 'dist/\n!*.map' }), env)
    expect(server(settings)).toMatchObject({
      host: 'sftp.example.com',
      username: 'deploy',
      hostInput: 'host',
      pinInput: 'fingerprint'
    })
    expect(server(settings).pins).toHaveLength(1)
    expect(server(settings).pins[0]).toMatchObject({ form: 'sha256', value: host.sha256.slice(7) })
    expect(settings.source).toEqual({ include: ['dist/'], exclude: ['*.map'] })
    expect(server(settings).credentials.privateKey?.keyType).toBe('ssh-ed25519')
    expect(server(settings).credentials.password).toBeUndefined()
  })

  it('reads explicit values', () => {
    const settings = readSettings(
      inputs({
        direction: 'Download',
        port: '2222',
        timeout: '5',
        concurrency: '3',
        target: 'out'
      }),
      env
    )
    expect(settings.direction).toBe('download')
    expect(server(settings).port).toBe(2222)
    expect(settings.timeoutMs).toBe(5000)
    expect(settings.concurrency).toBe(3)
  })

  it('accepts the range limits', () => {
    const low = readSettings(inputs({ port: '1', timeout: '1', concurrency: '1' }), env)
    expect([server(low).port, low.timeoutMs, low.concurrency]).toEqual([1, 1000, 1])
    const high = readSettings(inputs({ port: '65535', timeout: '3600', concurrency: '64' }), env)
    expect([server(high).port, high.timeoutMs, high.concurrency]).toEqual([65535, 3_600_000, 64])
  })
})

describe('readSettings by direction', () => {
  it('gives each direction only its own options', () => {
    const up = readSettings(inputs({ sync: 'changed' }), env)
    expect(up).toMatchObject({ direction: 'upload', syncChanged: true, rollback: false })
    expect(up).not.toHaveProperty('select')
    expect(up).not.toHaveProperty('targetServer')
    const down = readSettings(inputs({ direction: 'download', select: 'newest' }), env)
    expect(down).toMatchObject({ direction: 'download', select: 'newest' })
    for (const key of ['syncChanged', 'deleteExtraneous', 'rollback', 'targetServer'])
      expect(down).not.toHaveProperty(key)
  })

  it('gives a relay its destination, with its own pins and the source login by default', () => {
    const relay = readSettings(
      inputs({
        direction: 'relay',
        'target-host': 'backup.example.com',
        'target-fingerprint': login.sha256
      }),
      env
    )
    if (relay.direction !== 'relay') throw new Error(`${relay.direction}, not relay`)
    expect(relay.select).toBe('all')
    expect(relay).not.toHaveProperty('syncChanged')
    expect(relay.targetServer).toMatchObject({ host: 'backup.example.com', username: 'deploy' })
    expect(relay.targetServer.pins.map(p => p.value)).toEqual([login.sha256.slice(7)])
    expect(server(relay).pins.map(p => p.value)).toEqual([host.sha256.slice(7)])
  })
})

describe('readSettings validation', () => {
  it('reads sync: off, changed and checksum; refuses anything else', () => {
    const read = (sync: string) => upload(readSettings(inputs({ sync }), env))
    expect([read('').syncChanged, read('').syncChecksum]).toEqual([false, false])
    expect([read('changed').syncChanged, read('changed').syncChecksum]).toEqual([true, false])
    expect([read('checksum').syncChanged, read('checksum').syncChecksum]).toEqual([true, true])
    expectInputError({ sync: 'sha256' }, 'sync', /checksum/)
  })

  it('refuses an unknown direction', () => {
    expectInputError({ direction: 'sideways' }, 'direction', /'sideways' is not allowed/)
  })

  it.each([
    ['abc', /not a whole number/],
    ['0', /out of range/],
    ['65536', /out of range/]
  ])('refuses port %j', (port, fragment) => {
    expectInputError({ port }, 'port', fragment)
  })

  it.each([
    ['0', /out of range/],
    ['3601', /out of range/],
    ['thirty', /not a whole number/]
  ])('refuses timeout %j', (timeout, fragment) => {
    expectInputError({ timeout }, 'timeout', fragment)
  })

  it.each(['0', '1025', 'many'])('refuses concurrency %j', concurrency => {
    expectInputError({ concurrency }, 'concurrency')
  })

  it('refuses a missing host', () => {
    expectInputError({ host: '' }, 'host', /required/)
  })

  it('refuses a host with spaces, a user or a malformed port', () => {
    expectInputError({ host: 'sftp example.com' }, 'host', /not a host name/)
    expectInputError({ host: 'deploy@sftp.example.com' }, 'host', /not a host name/)
    expectInputError({ host: 'sftp.example.com:0' }, 'host', /out of range/)
    expectInputError({ host: 'sftp.example.com:ssh' }, 'host', /'port' input/)
  })

  it('takes a port written after the host over the port input', () => {
    const settings = readSettings(inputs({ host: 'sftp.example.com:2222', port: '22' }), env)
    expect(server(settings)).toMatchObject({ host: 'sftp.example.com', port: 2222 })
  })

  it('accepts an IPv6 literal with and without brackets', () => {
    for (const raw of ['2001:db8::5', '[2001:db8::5]']) {
      const settings = readSettings(inputs({ host: raw }), env)
      expect(server(settings)).toMatchObject({ host: '2001:db8::5', port: 22 })
    }
  })

  it('refuses a missing username', () => {
    expectInputError({ username: '' }, 'username', /required/)
  })

  it.each(['de ploy', 'deploy@host', 'deploy:pw', ' deploy'])('refuses username %j', username => {
    expectInputError({ username }, 'username', /plain user name/)
  })

  it('refuses a missing target', () => {
    expectInputError({ target: '' }, 'target', /required/)
    expectInputError({ target: '   ' }, 'target', /required/)
  })

  it('refuses a NUL in the target', () => {
    expectInputError({ target: 'a\0b' }, 'target', /NUL/)
  })

  it('refuses a missing source, or one with only excludes', () => {
    expectInputError({ source: '' }, 'source', /nothing to transfer/)
    expectInputError({ source: '!*.map' }, 'source', /nothing to transfer/)
  })

  it('refuses ! alone in source', () => {
    expectInputError({ source: 'dist/\n!' }, 'source', /only '!'/)
  })

  it('refuses missing credentials, naming private-key', () => {
    expectInputError({ 'private-key': '' }, 'private-key', /no credentials/)
    expectInputError({ 'private-key': '', passphrase: 'x' }, 'private-key', /no credentials/)
  })

  it('refuses a missing fingerprint', () => {
    expectInputError({ fingerprint: '' }, 'fingerprint')
  })

  it('refuses pins that apply to no host: a known_hosts line naming another host', () => {
    const line = `other.example.com ${host.publicLine}`
    expectInputError(
      { fingerprint: line },
      'fingerprint',
      /no pin applies to sftp\.example\.com:22/
    )
    // The same line is the pin when it names the host we connect to.
    const settings = readSettings(inputs({ fingerprint: line, host: 'other.example.com' }), env)
    expect(server(settings).pins).toHaveLength(1)
    expect(server(settings).pins[0].form).toBe('key')
  })

  it('refuses a known_hosts line for port 22 when another port is used, naming [host]:port', () => {
    const line = `sftp.example.com ${host.publicLine}`
    expectInputError(
      { fingerprint: line, port: '2222' },
      'fingerprint',
      /\[sftp\.example\.com\]:2222/
    )
    const ok = `[sftp.example.com]:2222 ${host.publicLine}`
    expect(server(readSettings(inputs({ fingerprint: ok, port: '2222' }), env)).pins).toHaveLength(
      1
    )
  })

  it('refuses when the only pin for the host is revoked', () => {
    const fingerprint = [
      `@revoked sftp.example.com ${host.publicLine}`,
      `other.example.com ${login.publicLine}`
    ].join('\n')
    expectInputError({ fingerprint }, 'fingerprint', /no pin applies/)
  })

  it('keeps only the pins that apply to the host', () => {
    const fingerprint = [
      `other.example.com ${login.publicLine}`,
      host.sha256,
      `sftp.example.com ${host.publicLine}`
    ].join('\n')
    const pins = server(readSettings(inputs({ fingerprint }), env)).pins
    expect(pins.map(p => p.line)).toEqual([2, 3])
  })
})

describe('readSettings warnings and secrets', () => {
  it('warns about an MD5 pin, naming the fingerprint input', () => {
    const settings = readSettings(inputs({ fingerprint: host.md5 }), env)
    expect(server(settings).pins[0].form).toBe('md5')
    expect(settings.warnings).toHaveLength(1)
    expect(settings.warnings[0]).toContain("'fingerprint'")
    expect(settings.warnings[0]).toMatch(/MD5 is weak/)
  })

  it('warns when several servers share pins without host names, not when lines name them', () => {
    const shared = readSettings(
      inputs({ host: 'a.example.com\nb.example.com', fingerprint: host.sha256 }),
      env
    )
    expect(shared.warnings).toEqual([expect.stringMatching(/apply to all 2 servers/)])
    const tied = readSettings(
      inputs({
        host: 'a.example.com\nb.example.com',
        fingerprint: `a.example.com ${host.publicLine}\nb.example.com ${host.publicLine}`
      }),
      env
    )
    expect(tied.warnings).toEqual([])
  })

  it('does not warn about a SHA256 pin', () => {
    expect(readSettings(inputs({ fingerprint: host.sha256 }), env).warnings).toEqual([])
  })

  it('collects the password as a secret', () => {
    const settings = readSettings(inputs({ 'private-key': '', password: 'hunter2!' }), env)
    expect(server(settings).credentials.password).toBe('hunter2!')
    expect(server(settings).credentials.privateKey).toBeUndefined()
    expect(settings.secrets).toEqual(['hunter2!'])
  })

  it('collects the private key, each of its lines, the passphrase and the password', () => {
    const settings = readSettings(
      inputs({ 'private-key': encrypted.privateText, passphrase: PASSPHRASE, password: 'pw-1' }),
      env
    )
    const keyLines = encrypted.privateText
      .split('\n')
      .filter(l => l.trim() && !l.startsWith('-----'))
    expect(settings.secrets).toContain(PASSPHRASE)
    expect(settings.secrets).toContain('pw-1')
    for (const line of keyLines) expect(settings.secrets).toContain(line)
    expect(server(settings).credentials.privateKey?.passphrase).toBe(PASSPHRASE)
  })

  it('blames the passphrase input for a wrong passphrase', () => {
    expectInputError({ 'private-key': encrypted.privateText, passphrase: 'wrong' }, 'passphrase')
  })
})

describe('readSettings target', () => {
  it('resolves a download target against the workspace', () => {
    const read = (target: string) =>
      readSettings(inputs({ direction: 'download', target }), env).target
    expect(read('out')).toBe(path.join(env.workspace, 'out'))
    expect(read('./out/sub/')).toBe(path.join(env.workspace, 'out', 'sub'))
    expect(read('/tmp/abs')).toBe('/tmp/abs')
  })

  it.each([
    ['~/x', 'x'],
    ['~', '.'],
    ['~/', '.'],
    ['/var/www/', '/var/www'],
    ['/var/www//site///', '/var/www/site'],
    ['a\\b\\c\\', 'a/b/c'],
    ['/', '/'],
    ['./up/../site', 'site']
  ])('normalizes upload target %j to %j', (target, expected) => {
    expect(readSettings(inputs({ target }), env).target).toBe(expected)
  })

  it('normalizeRemoteDir agrees with the upload target', () => {
    expect(normalizeRemoteDir('~/releases/v1/')).toBe('releases/v1')
  })
})

describe('formatHostPort', () => {
  it('brackets IPv6 literals only', () => {
    expect(formatHostPort('example.com', 22)).toBe('example.com:22')
    expect(formatHostPort('::1', 2222)).toBe('[::1]:2222')
  })
})
