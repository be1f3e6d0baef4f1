import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import * as net from 'node:net'
import * as path from 'node:path'
import { runAction, type ActionRun } from '../support/action.js'
import { startSshd, type Sshd } from '../support/sshd.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

/** One clear ::error:: naming the input, no stack trace, nothing secret echoed. */
function expectOneClearError(run: ActionRun, pattern: RegExp, secret?: string): void {
  expect(run.code).not.toBe(0)
  expect(run.errors).toHaveLength(1)
  expect(run.errors[0]).toMatch(pattern)
  expect(run.stdout + run.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m)
  if (secret) {
    for (const line of secret.split('\n').filter(l => l.length > 20 && !l.startsWith('-----'))) {
      expect(run.errors[0]).not.toContain(line)
    }
  }
}

describe('bad input and failed connections give one clear error', () => {
  let sshd: Sshd
  let workspace: string
  let keys: string

  beforeAll(async () => {
    sshd = await startSshd({ hostKeyTypes: ['ed25519'] })
    workspace = makeTempDir('err-ws-')
    keys = makeTempDir('err-keys-')
    writeFileSync(path.join(workspace, 'a.txt'), 'a\n')
    execFileSync('ssh-keygen', [
      '-t',
      'ed25519',
      '-N',
      'sesame',
      '-q',
      '-f',
      path.join(keys, 'enc')
    ])
    execFileSync('ssh-keygen', ['-t', 'ed25519', '-N', '', '-q', '-f', path.join(keys, 'stranger')])
  })
  afterAll(async () => {
    await sshd?.stop()
    removeTempDir(workspace)
    removeTempDir(keys)
  })

  const good = (): Record<string, string> => ({
    host: sshd.host,
    port: String(sshd.port),
    username: sshd.username,
    fingerprint: sshd.hostKeys[0].sha256,
    'private-key': sshd.clientKey.privatePem,
    source: 'a.txt',
    target: path.join(workspace, 'remote-target')
  })
  const run = (overrides: Record<string, string>, timeoutMs?: number) =>
    runAction({ ...good(), ...overrides }, { workspace, timeoutMs })

  test.each([
    ['missing fingerprint', { fingerprint: '' }, /Input 'fingerprint'.*required.*ssh-keygen/s],
    ['missing credentials', { 'private-key': '' }, /Input 'private-key'.*no credentials/],
    ['port not a number', { port: 'twenty-two' }, /Input 'port'.*not a whole number/],
    ['port out of range', { port: '70000' }, /Input 'port'.*out of range/],
    ['unknown direction', { direction: 'sideways' }, /Input 'direction'.*upload, download/],
    ['source matching nothing', { source: 'nope/*.txt' }, /Input 'source'.*matches no file/],
    [
      'host with a user in it',
      { host: 'deploy@example.com' },
      /Input 'host'.*user and port have their own inputs/
    ],
    ['garbage pin', { fingerprint: 'not a pin at all' }, /Input 'fingerprint'.*line 1/]
  ])('%s', async (_name, overrides, pattern) => {
    const before = sshd.authAttempts()
    expectOneClearError(await run(overrides), pattern)
    expect(sshd.authAttempts()).toBe(before)
  })

  // The connection starts while such a source is read (it surely holds a file), so only its
  // login waiting for the read keeps the promise.
  test('a source that fails once the connection started costs no login', async () => {
    mkdirSync(path.join(workspace, 'leaky'))
    writeFileSync(path.join(workspace, 'leaky', 'ok.txt'), 'ok\n')
    symlinkSync(path.join(keys, 'stranger.pub'), path.join(workspace, 'leaky', 'out'))
    const connections = () => (sshd.log().match(/Connection from 127\.0\.0\.1/g) ?? []).length
    const [attempts, reached] = [sshd.authAttempts(), connections()]
    expectOneClearError(await run({ source: 'leaky' }), /Input 'source'.*symbolic link/s)
    expect(connections()).toBe(reached + 1)
    expect(sshd.authAttempts()).toBe(attempts)
  })

  test('a public key pasted as the private key', async () => {
    const pub = readFileSync(path.join(keys, 'stranger.pub'), 'utf8')
    expectOneClearError(await run({ 'private-key': pub }), /Input 'private-key'.*public key/i)
  })

  test('an encrypted key without a passphrase names the passphrase input', async () => {
    const key = readFileSync(path.join(keys, 'enc'), 'utf8')
    expectOneClearError(await run({ 'private-key': key }), /'passphrase'/, key)
  })

  test('an encrypted key with the wrong passphrase', async () => {
    const key = readFileSync(path.join(keys, 'enc'), 'utf8')
    const result = await run({ 'private-key': key, passphrase: 'wrong-passphrase' })
    expectOneClearError(result, /passphrase/i, key)
    expect(result.stdout).not.toMatch(/::error[^\n]*wrong-passphrase/)
  })

  test('a refused connection', async () => {
    const port = await freePort()
    expectOneClearError(await run({ port: String(port) }), /refused.*'host' and 'port'/)
  })

  test('a server that accepts TCP but never speaks times out within the timeout', async () => {
    const silent = net.createServer(() => undefined)
    await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', resolve))
    const port = (silent.address() as net.AddressInfo).port
    try {
      const result = await run({ port: String(port), timeout: '2' })
      expectOneClearError(result, /Timed out after 2 s/)
      expect(result.durationMs).toBeLessThan(10_000)
    } finally {
      silent.close()
    }
  })

  test('a key the server does not know fails authentication', async () => {
    const key = readFileSync(path.join(keys, 'stranger'), 'utf8')
    expectOneClearError(await run({ 'private-key': key }), /rejected the login of user/, key)
  })

  test('a target path that crosses a regular file', async () => {
    const blocker = path.join(workspace, 'blocker')
    writeFileSync(blocker, 'I am a file')
    expectOneClearError(
      await run({ target: path.join(blocker, 'sub') }),
      /Input 'target'.*is a file, not a directory/
    )
  })

  test('secrets never reach the log', async () => {
    const result = await run({ password: 'hunter2-secret-pw' })
    expect(result.code).toBe(0)
    expect(result.stdout).toContain('::add-mask::hunter2-secret-pw')
    const body = sshd.clientKey.privatePem.split('\n')[1]
    expect(result.stdout).toContain(`::add-mask::${body}`)
  })

  test('armor lines and tiny key fragments are not masked (they would blank the whole log)', async () => {
    // Wrap the key so its last line is 1 to 3 characters, as about 1 key in 25 is.
    const pem = sshd.clientKey.privatePem.trim().split('\n')
    const joined = pem.slice(1, -1).join('')
    const width = [...Array(40).keys()]
      .map(i => 60 + i)
      .find(w => joined.length % w in { 1: 1, 2: 1, 3: 1 })
    expect(width).toBeDefined()
    const rewrapped = [
      pem[0],
      ...(joined.match(new RegExp(`.{1,${width}}`, 'g')) ?? []),
      pem.at(-1)
    ]
    const result = await run({ 'private-key': `${rewrapped.join('\n')}\n` })
    expect(result.code).toBe(0)
    const values = result.stdout
      .split('\n')
      .filter(l => l.startsWith('::add-mask::'))
      .map(l => l.slice('::add-mask::'.length).trim())
    expect(values.some(v => v === rewrapped[1])).toBe(true)
    expect(values.filter(v => /^-----[A-Z ]+-----$/.test(v))).toEqual([])
    expect(values.filter(v => v.length < 4)).toEqual([])
  })

  test('a very short secret is masked too', async () => {
    const result = await run({ password: 'pw1' })
    expect(result.code).toBe(0)
    expect(result.stdout).toContain('::add-mask::pw1')
  })
})

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })
}
