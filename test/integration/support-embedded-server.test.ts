import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import ssh2 from 'ssh2'
import {
  startEmbeddedServer,
  type EmbeddedServer,
  type EmbeddedServerOptions
} from '../support/embedded-server.js'
import { runChecked, runCommand, waitFor, type RunResult } from '../support/run.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

const PASSWORD = 'correct horse battery staple'
const { STATUS_CODE } = ssh2.utils.sftp

function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`
}

type Login =
  | { password: string; username?: string }
  | { privateKey: string; username?: string }
  | { none: true }

interface ConnectOptions {
  readyTimeout?: number
  /** Fingerprint the host key must have; default the server's own. */
  expectFingerprint?: string
}

/** ssh2 client with a callback-form hostVerifier pinned to the server's SHA256 fingerprint. */
function connect(
  server: EmbeddedServer,
  login: Login,
  options: ConnectOptions = {}
): Promise<ssh2.Client> {
  const username = ('username' in login ? login.username : undefined) ?? server.username
  const authHandler: ssh2.AuthMethod[] =
    'password' in login
      ? [{ type: 'password', username, password: login.password } as ssh2.PasswordAuthMethod]
      : 'privateKey' in login
        ? [{ type: 'publickey', username, key: login.privateKey } as ssh2.PublicKeyAuthMethod]
        : [{ type: 'none', username } as ssh2.NoAuthMethod]
  const expected = options.expectFingerprint ?? server.hostKey.sha256
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client()
    let ready = false
    client.once('ready', () => {
      // Without this every SFTP round trip on loopback costs ~40 ms (Nagle vs. delayed ACK).
      client.setNoDelay(true)
      ready = true
      resolve(client)
    })
    // Errors after 'ready' (e.g. a fault or stop() cutting the connection) surface through the
    // pending SFTP callbacks; errors before it reject. Either way, never an unhandled 'error'.
    client.on('error', error => {
      if (!ready) reject(error)
    })
    client.connect({
      host: server.host,
      port: server.port,
      username,
      authHandler,
      readyTimeout: options.readyTimeout ?? 10000,
      hostVerifier: (key: Buffer, verify: (valid: boolean) => void): void => {
        setImmediate(() => verify(fingerprint(key) === expected))
      }
    })
  })
}

function openSftp(client: ssh2.Client): Promise<ssh2.SFTPWrapper> {
  return new Promise((resolve, reject) =>
    client.sftp((err, sftp) => (err ? reject(err) : resolve(sftp)))
  )
}

function closed(client: ssh2.Client): Promise<void> {
  return new Promise(resolve => client.once('close', () => resolve()))
}

/** Promisified SFTP calls. Rejections carry ssh2's Error, whose `code` is the SFTP status. */
function call<T = void>(fn: (cb: (err: Error | null | undefined, value?: T) => void) => void) {
  return new Promise<T>((resolve, reject) =>
    fn((err, value) => (err ? reject(err) : resolve(value as T)))
  )
}

type ReaddirWithOptions = (
  location: string,
  options: { full: boolean },
  cb: (err: Error | undefined, list: ssh2.FileEntryWithStats[]) => void
) => void

const sftpOps = (sftp: ssh2.SFTPWrapper) => ({
  stat: (p: string) => call<ssh2.Stats>(cb => sftp.stat(p, cb)),
  lstat: (p: string) => call<ssh2.Stats>(cb => sftp.lstat(p, cb)),
  fstat: (h: Buffer) => call<ssh2.Stats>(cb => sftp.fstat(h, cb)),
  readdir: (p: string) => call<ssh2.FileEntryWithStats[]>(cb => sftp.readdir(p, cb)),
  /** readdir without ssh2's filtering of '.' and '..' (the option is missing from @types/ssh2). */
  readdirFull: (p: string) =>
    call<ssh2.FileEntryWithStats[]>(cb =>
      (sftp.readdir as unknown as ReaddirWithOptions).call(sftp, p, { full: true }, cb)
    ),
  mkdir: (p: string) => call(cb => sftp.mkdir(p, cb)),
  rmdir: (p: string) => call(cb => sftp.rmdir(p, cb)),
  unlink: (p: string) => call(cb => sftp.unlink(p, cb)),
  rename: (a: string, b: string) => call(cb => sftp.rename(a, b, cb)),
  realpath: (p: string) => call<string>(cb => sftp.realpath(p, cb)),
  readlink: (p: string) => call<string>(cb => sftp.readlink(p, cb)),
  symlink: (target: string, link: string) => call(cb => sftp.symlink(target, link, cb)),
  open: (p: string, flags: ssh2.OpenMode) => call<Buffer>(cb => sftp.open(p, flags, cb)),
  close: (h: Buffer) => call(cb => sftp.close(h, cb)),
  write: (h: Buffer, data: Buffer, position: number) =>
    call(cb => sftp.write(h, data, 0, data.length, position, cb)),
  writeFile: (p: string, data: Buffer) => call(cb => sftp.writeFile(p, data, cb)),
  readFile: (p: string) => call<Buffer>(cb => sftp.readFile(p, cb)),
  read: (h: Buffer, length: number, position: number) =>
    call<number>(cb => sftp.read(h, Buffer.alloc(length), 0, length, position, cb)),
  fastPut: (local: string, remote: string) => call(cb => sftp.fastPut(local, remote, cb)),
  fastGet: (remote: string, local: string) => call(cb => sftp.fastGet(remote, local, cb))
})

/**
 * Upload with one WRITE in flight at a time. (Not fastPut: when the connection dies mid-transfer,
 * ssh2 1.17's fastPut/fastGet try to CLOSE their handles on the dead channel and never call back.)
 */
async function putSequentially(
  ops: ReturnType<typeof sftpOps>,
  remote: string,
  data: Buffer,
  chunk = 32768
): Promise<void> {
  const handle = await ops.open(remote, 'w')
  for (let offset = 0; offset < data.length; offset += chunk) {
    await ops.write(handle, data.subarray(offset, offset + chunk), offset)
  }
  await ops.close(handle)
}

/** Download with one READ in flight at a time; resolves the number of bytes received. */
async function getSequentially(
  ops: ReturnType<typeof sftpOps>,
  remote: string,
  chunk = 32768
): Promise<number> {
  const handle = await ops.open(remote, 'r')
  let total = 0
  for (;;) {
    const n = await ops.read(handle, chunk, total)
    if (!n) break
    total += n
  }
  await ops.close(handle)
  return total
}

async function expectStatus(promise: Promise<unknown>, code: number): Promise<void> {
  await expect(promise).rejects.toMatchObject({ code })
}

/** Resolves 'pending' if the promise has not settled after ms (attaching a catch either way). */
function settledWithin(promise: Promise<unknown>, ms: number): Promise<'settled' | 'pending'> {
  return Promise.race([
    promise.then(
      () => 'settled' as const,
      () => 'settled' as const
    ),
    new Promise<'pending'>(resolve => setTimeout(() => resolve('pending'), ms))
  ])
}

describe('embedded SFTP server', () => {
  const servers: EmbeddedServer[] = []
  const clients: ssh2.Client[] = []
  let scratch: string
  let clientKeyPath: string
  let clientKey: { private: string; public: string }

  async function start(options: EmbeddedServerOptions = {}): Promise<EmbeddedServer> {
    const server = await startEmbeddedServer({
      password: PASSWORD,
      authorizedKey: clientKey.public,
      ...options
    })
    servers.push(server)
    return server
  }

  async function login(server: EmbeddedServer): Promise<{
    client: ssh2.Client
    sftp: ssh2.SFTPWrapper
    ops: ReturnType<typeof sftpOps>
  }> {
    const client = await connect(server, { password: PASSWORD })
    clients.push(client)
    const sftp = await openSftp(client)
    return { client, sftp, ops: sftpOps(sftp) }
  }

  beforeAll(async () => {
    scratch = makeTempDir('embedded-server-test-')
    clientKeyPath = path.join(scratch, 'client_ed25519')
    await runChecked('/usr/bin/ssh-keygen', [
      '-q',
      '-t',
      'ed25519',
      '-N',
      '',
      '-C',
      'embedded-test-client',
      '-f',
      clientKeyPath
    ])
    clientKey = {
      private: fs.readFileSync(clientKeyPath, 'utf8'),
      public: fs.readFileSync(`${clientKeyPath}.pub`, 'utf8').trim()
    }
  })

  afterEach(async () => {
    for (const client of clients.splice(0)) client.end()
    await Promise.all(servers.splice(0).map(server => server.stop()))
  })

  afterAll(() => removeTempDir(scratch))

  describe('host keys', () => {
    it.each(['ed25519', 'ecdsa', 'rsa'] as const)(
      'serves a %s host key whose fingerprint matches ssh-keygen',
      async kind => {
        const server = await start({ hostKeyType: kind })
        const pub = path.join(scratch, `host-${kind}.pub`)
        fs.writeFileSync(pub, `${server.hostKey.publicLine}\n`)
        const { stdout } = await runChecked('/usr/bin/ssh-keygen', ['-l', '-f', pub])
        expect(stdout.split(' ')[1]).toBe(server.hostKey.sha256)
        expect(server.hostKey.publicLine.split(' ')[0]).toBe(server.hostKey.type)
        expect(
          server.hostKey.blob.equals(Buffer.from(server.hostKey.publicLine.split(' ')[1], 'base64'))
        ).toBe(true)
        const client = await connect(server, { password: PASSWORD })
        clients.push(client)
        await openSftp(client)
      }
    )

    it('is rejected by a client that pins another fingerprint', async () => {
      const server = await start()
      await expect(
        connect(server, { password: PASSWORD }, { expectFingerprint: 'SHA256:nope' })
      ).rejects.toThrow(/verification failed/i)
    })

    it('does not identify as OpenSSH', async () => {
      const server = await start()
      const banner = await new Promise<string>((resolve, reject) => {
        const socket = net.connect({ host: server.host, port: server.port })
        socket.setEncoding('latin1')
        socket.once('data', (chunk: string) => {
          socket.destroy()
          resolve(chunk)
        })
        socket.once('error', reject)
      })
      expect(banner).toMatch(/^SSH-2\.0-/)
      expect(banner).not.toMatch(/^SSH-2\.0-OpenSSH/)
    })
  })

  describe('authentication', () => {
    it('accepts the right password, refuses a wrong one and counts attempts', async () => {
      const server = await start()
      expect(server.authAttempts()).toBe(0)
      const client = await connect(server, { password: PASSWORD })
      clients.push(client)
      expect(server.authAttempts()).toBe(1)
      await expect(connect(server, { password: 'wrong' })).rejects.toMatchObject({
        level: 'client-authentication'
      })
      expect(server.authAttempts()).toBe(2)
      await expect(
        connect(server, { password: PASSWORD, username: 'mallory' })
      ).rejects.toMatchObject({ level: 'client-authentication' })
      await expect(connect(server, { none: true })).rejects.toMatchObject({
        level: 'client-authentication'
      })
      expect(server.authAttempts()).toBe(4)
      expect(server.connections()).toBe(4)
    })

    it('accepts the authorized public key and refuses another', async () => {
      const server = await start({ password: undefined })
      const client = await connect(server, { privateKey: clientKey.private })
      clients.push(client)
      // ssh2 first asks whether the key would do (no signature), then signs: two requests.
      expect(server.authAttempts()).toBe(2)
      // ssh2's generator yields an unparsable ed25519 key about once in 200 tries: retry then.
      let other = ssh2.utils.generateKeyPairSync('ed25519')
      while (ssh2.utils.parseKey(other.private) instanceof Error) {
        other = ssh2.utils.generateKeyPairSync('ed25519')
      }
      await expect(connect(server, { privateKey: other.private })).rejects.toMatchObject({
        level: 'client-authentication'
      })
      await expect(connect(server, { password: PASSWORD })).rejects.toMatchObject({
        level: 'client-authentication'
      })
      expect(server.authAttempts()).toBe(4)
    })

    it('refuses publickey when no key is authorized', async () => {
      const server = await start({ authorizedKey: undefined })
      await expect(connect(server, { privateKey: clientKey.private })).rejects.toMatchObject({
        level: 'client-authentication'
      })
    })
  })

  describe('file operations (ssh2 client)', () => {
    it('round-trips a 1 MiB file byte for byte', async () => {
      const server = await start()
      const { ops } = await login(server)
      const data = randomBytes(1024 * 1024)
      const local = path.join(scratch, 'upload.bin')
      const back = path.join(scratch, 'download.bin')
      fs.writeFileSync(local, data)
      await ops.fastPut(local, '/big.bin')
      expect(fs.readFileSync(path.join(server.root, 'big.bin')).equals(data)).toBe(true)
      await ops.fastGet('big.bin', back)
      expect(fs.readFileSync(back).equals(data)).toBe(true)
      expect((await ops.readFile('/big.bin')).equals(data)).toBe(true)
      expect((await ops.stat('/big.bin')).size).toBe(data.length)
    })

    it('supports mkdir, readdir, rename, remove, rmdir, stat and realpath', async () => {
      const server = await start()
      const { ops } = await login(server)
      expect(await ops.realpath('.')).toBe('/')
      expect(await ops.realpath('a/./b/../c')).toBe('/a/c')
      await ops.mkdir('/dir')
      await ops.writeFile('/dir/one.txt', Buffer.from('hello'))
      await ops.writeFile('dir/two.txt', Buffer.from('hi'))
      expect(fs.readFileSync(path.join(server.root, 'dir', 'one.txt'), 'utf8')).toBe('hello')

      const list = await ops.readdir('/dir')
      expect(list.map(e => e.filename).sort()).toEqual(['one.txt', 'two.txt'])
      const one = list.find(e => e.filename === 'one.txt')
      expect(one?.attrs.size).toBe(5)
      expect(one?.attrs.isFile()).toBe(true)
      expect(one?.longname).toMatch(/^-rw.* 5 .* one\.txt$/)
      expect((await ops.stat('/dir')).isDirectory()).toBe(true)

      await ops.rename('/dir/one.txt', '/dir/renamed.txt')
      expect(fs.existsSync(path.join(server.root, 'dir', 'renamed.txt'))).toBe(true)
      // Plain rename refuses to replace an existing target.
      await expectStatus(ops.rename('/dir/two.txt', '/dir/renamed.txt'), STATUS_CODE.FAILURE)
      expect(fs.readFileSync(path.join(server.root, 'dir', 'renamed.txt'), 'utf8')).toBe('hello')

      await expectStatus(ops.stat('/dir/missing'), STATUS_CODE.NO_SUCH_FILE)
      await expectStatus(ops.unlink('/dir/missing'), STATUS_CODE.NO_SUCH_FILE)
      await expectStatus(ops.rmdir('/dir'), STATUS_CODE.FAILURE) // not empty
      await ops.unlink('/dir/renamed.txt')
      await ops.unlink('/dir/two.txt')
      await ops.rmdir('/dir')
      expect(fs.readdirSync(server.root)).toEqual([])
    })

    it('honours exclusive create, append and setstat', async () => {
      const server = await start()
      const { sftp, ops } = await login(server)
      await ops.writeFile('/f.txt', Buffer.from('abc'))
      await expectStatus(ops.open('/f.txt', 'wx'), STATUS_CODE.FAILURE)
      const handle = await ops.open('/f.txt', 'a')
      await ops.write(handle, Buffer.from('def'), 0)
      await ops.close(handle)
      expect(fs.readFileSync(path.join(server.root, 'f.txt'), 'utf8')).toBe('abcdef')
      await call(cb => sftp.utimes('/f.txt', 1000000000, 1500000000, cb))
      await call(cb => sftp.chmod('/f.txt', 0o600, cb))
      const st = fs.statSync(path.join(server.root, 'f.txt'))
      expect(Math.floor(st.mtimeMs / 1000)).toBe(1500000000)
      expect(st.mode & 0o777).toBe(0o600)
      expect((await ops.stat('/f.txt')).mtime).toBe(1500000000)
    })

    it('creates and reads symlinks inside the root', async () => {
      const server = await start()
      const { ops } = await login(server)
      await ops.writeFile('/target.txt', Buffer.from('x'))
      await ops.symlink('/target.txt', '/link.txt')
      expect((await ops.lstat('/link.txt')).isSymbolicLink()).toBe(true)
      expect((await ops.stat('/link.txt')).isFile()).toBe(true)
      expect(await ops.readlink('/link.txt')).toBe('/target.txt')
      expect((await ops.readFile('/link.txt')).toString()).toBe('x')
    })

    it('never lets a client path escape the root', async () => {
      const outside = makeTempDir('embedded-outside-')
      try {
        const root = path.join(outside, 'root')
        fs.mkdirSync(root)
        fs.writeFileSync(path.join(outside, 'secret.txt'), 'secret')
        fs.symlinkSync(outside, path.join(root, 'jump'))
        fs.symlinkSync(path.join(outside, 'nothing-yet'), path.join(root, 'dangling'))
        const server = await start({ root })
        const { ops } = await login(server)
        const DENIED = STATUS_CODE.PERMISSION_DENIED
        await expectStatus(ops.realpath('../../etc'), DENIED)
        await expectStatus(ops.stat('../../etc/passwd'), DENIED)
        await expectStatus(ops.stat('/../secret.txt'), DENIED)
        await expectStatus(ops.readFile('../secret.txt'), DENIED)
        await expectStatus(ops.readdir('/..'), DENIED)
        await expectStatus(ops.readdir('a/../../..'), DENIED)
        await expectStatus(ops.writeFile('../escaped.txt', Buffer.from('x')), DENIED)
        await expectStatus(ops.mkdir('../escaped-dir'), DENIED)
        await expectStatus(ops.rename('/jump', '../moved'), DENIED)
        // Symlinks that lead out of the root are refused too, dangling ones included.
        await expectStatus(ops.readFile('/jump/secret.txt'), DENIED)
        await expectStatus(ops.readdir('/jump'), DENIED)
        await expectStatus(ops.stat('/jump'), DENIED)
        await expectStatus(ops.writeFile('/dangling', Buffer.from('x')), DENIED)
        await expectStatus(ops.symlink('../../etc', '/evil'), DENIED)
        expect(fs.existsSync(path.join(outside, 'escaped.txt'))).toBe(false)
        expect(fs.existsSync(path.join(outside, 'escaped-dir'))).toBe(false)
        expect(fs.existsSync(path.join(outside, 'nothing-yet'))).toBe(false)
        // lstat of the link itself is harmless and allowed.
        expect((await ops.lstat('/jump')).isSymbolicLink()).toBe(true)
        // Within the root, '..' is fine.
        expect(await ops.realpath('/jump/../x')).toBe('/x')
        await server.stop()
        expect(fs.existsSync(root)).toBe(true) // a given root is left alone
      } finally {
        removeTempDir(outside)
      }
    })

    it('removes its own temp root on stop', async () => {
      const server = await start()
      expect(fs.existsSync(server.root)).toBe(true)
      await server.stop()
      expect(fs.existsSync(server.root)).toBe(false)
      await server.stop() // idempotent
    })
  })

  describe('OpenSSH sftp client', () => {
    function knownHosts(server: EmbeddedServer): string {
      const file = path.join(scratch, `known_hosts-${server.port}`)
      const [type, blob] = server.hostKey.publicLine.split(/\s+/)
      fs.writeFileSync(file, `[127.0.0.1]:${server.port} ${type} ${blob}\n`)
      return file
    }

    function sftpBatch(
      server: EmbeddedServer,
      batch: string,
      auth: string[],
      env: string[] = []
    ): Promise<RunResult> {
      const batchFile = path.join(scratch, `batch-${server.port}-${Date.now()}.txt`)
      fs.writeFileSync(batchFile, batch)
      return runCommand('env', [
        ...env,
        'sftp',
        // Before -b: sftp turns -b into '-o BatchMode=yes', and ssh keeps the first value it sees.
        ...auth,
        '-b',
        batchFile,
        '-F',
        '/dev/null',
        '-o',
        `UserKnownHostsFile=${knownHosts(server)}`,
        '-o',
        'GlobalKnownHostsFile=/dev/null',
        '-o',
        'StrictHostKeyChecking=yes',
        '-o',
        'UpdateHostKeys=no',
        '-o',
        'IdentityAgent=none',
        '-o',
        'ConnectTimeout=10',
        '-P',
        String(server.port),
        `${server.username}@127.0.0.1`
      ])
    }

    const batch = [
      'mkdir up',
      'put LOCAL up/file.bin',
      'rename up/file.bin up/moved.bin',
      'ls -l up',
      'get up/moved.bin BACK',
      'rm up/moved.bin',
      'rmdir up',
      ''
    ].join('\n')

    it('works with public-key authentication', async () => {
      const server = await start()
      const data = randomBytes(1024 * 1024 + 17)
      const local = path.join(scratch, 'sftp-pk-up.bin')
      const back = path.join(scratch, 'sftp-pk-back.bin')
      fs.writeFileSync(local, data)
      fs.chmodSync(clientKeyPath, 0o600)
      const result = await sftpBatch(server, batch.replace('LOCAL', local).replace('BACK', back), [
        '-i',
        clientKeyPath,
        '-o',
        'IdentitiesOnly=yes',
        '-o',
        'BatchMode=yes',
        '-o',
        'PreferredAuthentications=publickey'
      ])
      expect(result.stderr + result.stdout).not.toMatch(/error|fail/i)
      expect(result.code).toBe(0)
      expect(result.stdout).toMatch(/moved\.bin/)
      expect(fs.readFileSync(back).equals(data)).toBe(true)
      expect(fs.readdirSync(server.root)).toEqual([])
      // 'none', the publickey query, the signed publickey request.
      expect(server.authAttempts()).toBe(3)
    })

    it('works with password authentication', async () => {
      const server = await start()
      const askpass = path.join(scratch, 'askpass.sh')
      fs.writeFileSync(askpass, `#!/bin/sh\necho '${PASSWORD}'\n`, { mode: 0o700 })
      const data = randomBytes(4096)
      const local = path.join(scratch, 'sftp-pw-up.bin')
      const back = path.join(scratch, 'sftp-pw-back.bin')
      fs.writeFileSync(local, data)
      const result = await sftpBatch(
        server,
        batch.replace('LOCAL', local).replace('BACK', back),
        [
          '-o',
          'BatchMode=no',
          '-o',
          'PreferredAuthentications=password',
          '-o',
          'PubkeyAuthentication=no',
          '-o',
          'NumberOfPasswordPrompts=1'
        ],
        [`SSH_ASKPASS=${askpass}`, 'SSH_ASKPASS_REQUIRE=force', 'DISPLAY=none']
      )
      expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' })
      expect(fs.readFileSync(back).equals(data)).toBe(true)
      // OpenSSH's client starts with 'none', then sends the password.
      expect(server.authAttempts()).toBe(2)
    })
  })

  describe('faults', () => {
    it('dropAfterBytes cuts the connection during an upload', async () => {
      const server = await start({ faults: { dropAfterBytes: 100000 } })
      const { client, ops } = await login(server)
      const gone = closed(client)
      await expect(putSequentially(ops, '/partial.bin', randomBytes(1024 * 1024))).rejects.toThrow(
        /no response/i
      )
      await gone
      expect(server.faultsTriggered()).toEqual({ drops: 1, stalls: 0 })
      const onDisk = path.join(server.root, 'partial.bin')
      await waitFor(() => fs.statSync(onDisk).size === 100000, 'exactly 100000 bytes on disk')

      // Counters are per connection: a new connection gets a fresh budget.
      server.setFaults({})
      const second = await login(server)
      expect((await second.ops.stat('/partial.bin')).size).toBe(100000)
    })

    it('dropAfterBytes cuts the connection during a download', async () => {
      const server = await start()
      fs.writeFileSync(path.join(server.root, 'exact.bin'), randomBytes(50000))
      fs.writeFileSync(path.join(server.root, 'big.bin'), randomBytes(1024 * 1024))
      server.setFaults({ dropAfterBytes: 50000 })
      const { client, ops } = await login(server)
      const gone = closed(client)
      // Exactly dropAfterBytes bytes still go through...
      expect(await getSequentially(ops, '/exact.bin')).toBe(50000)
      expect(server.faultsTriggered().drops).toBe(0)
      // ...the next data byte does not.
      await expect(getSequentially(ops, '/big.bin')).rejects.toThrow(/no response/i)
      await gone
      expect(server.faultsTriggered().drops).toBe(1)
    })

    it('stallAfterBytes leaves requests unanswered', async () => {
      const server = await start()
      const { ops } = await login(server)
      const handle = await ops.open('/stall.txt', 'w')
      server.setFaults({ stallAfterBytes: 10 })
      const write = ops.write(handle, Buffer.alloc(100, 0x61), 0)
      expect(await settledWithin(write, 1200)).toBe('pending')
      const stat = ops.stat('/stall.txt')
      expect(await settledWithin(stat, 300)).toBe('pending')
      expect(server.faultsTriggered()).toEqual({ drops: 0, stalls: 1 })
      expect(fs.statSync(path.join(server.root, 'stall.txt')).size).toBe(10)

      // Other connections are served normally.
      const other = await login(server)
      expect((await other.ops.stat('/stall.txt')).size).toBe(10)
    })

    it('sizeDelta makes STAT, LSTAT, FSTAT and READDIR lie about file sizes', async () => {
      const server = await start()
      fs.writeFileSync(path.join(server.root, 'ten.txt'), '0123456789')
      const { ops } = await login(server)
      server.setFaults({ sizeDelta: 7 })
      expect((await ops.stat('/ten.txt')).size).toBe(17)
      expect((await ops.lstat('/ten.txt')).size).toBe(17)
      const handle = await ops.open('/ten.txt', 'r')
      expect((await ops.fstat(handle)).size).toBe(17)
      await ops.close(handle)
      expect((await ops.readdir('/')).find(e => e.filename === 'ten.txt')?.attrs.size).toBe(17)
      server.setFaults({ sizeDelta: -3 })
      expect((await ops.stat('/ten.txt')).size).toBe(7)
      server.setFaults({})
      expect((await ops.stat('/ten.txt')).size).toBe(10)
      // The data itself is not touched.
      expect((await ops.readFile('/ten.txt')).toString()).toBe('0123456789')
    })

    it('hostileNames appear in root listings only', async () => {
      const hostileNames = ['../../evil', 'a/b', '..', '.', 'x\\y', '/etc/passwd']
      const server = await start({ faults: { hostileNames } })
      fs.writeFileSync(path.join(server.root, 'real.txt'), 'real')
      fs.mkdirSync(path.join(server.root, 'sub'))
      const { ops } = await login(server)
      const list = await ops.readdirFull('/')
      expect(list.map(e => e.filename).sort()).toEqual([...hostileNames, 'real.txt', 'sub'].sort())
      for (const name of hostileNames) {
        const entry = list.find(e => e.filename === name)
        expect(entry?.attrs.size).toBe(5)
        expect(entry?.attrs.isFile()).toBe(true)
      }
      expect((await ops.readdirFull('.')).length).toBe(list.length)
      expect(await ops.readdirFull('/sub')).toEqual([])
    })

    it('maxChannels refuses the N+1th session channel', async () => {
      const server = await start({ faults: { maxChannels: 2 } })
      const client = await connect(server, { password: PASSWORD })
      clients.push(client)
      const first = await openSftp(client)
      await openSftp(client)
      await expect(openSftp(client)).rejects.toThrow(/open failure|channel/i)
      // Closing one frees a slot.
      const firstClosed = new Promise(resolve => first.once('close', resolve))
      first.end()
      await firstClosed
      await openSftp(client)
      // Another connection has its own allowance.
      const other = await connect(server, { password: PASSWORD })
      clients.push(other)
      await openSftp(other)
    })

    it('silent accepts TCP but never sends a banner', async () => {
      const server = await start({ faults: { silent: true } })
      const received = await new Promise<number>((resolve, reject) => {
        let bytes = 0
        const socket = net.connect({ host: server.host, port: server.port })
        socket.on('data', (chunk: Buffer) => (bytes += chunk.length))
        socket.once('error', reject)
        socket.once('connect', () => socket.write('SSH-2.0-probe\r\n'))
        setTimeout(() => {
          socket.destroy()
          resolve(bytes)
        }, 1200)
      })
      expect(received).toBe(0)
      await expect(connect(server, { password: PASSWORD }, { readyTimeout: 800 })).rejects.toThrow(
        /timed out/i
      )
      expect(server.connections()).toBe(2)
      expect(server.authAttempts()).toBe(0)

      server.setFaults({})
      const { ops } = await login(server)
      expect(await ops.realpath('.')).toBe('/')
    })
  })
})
