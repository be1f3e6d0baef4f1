import { createHash } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { runChecked, runCommand, waitFor, type RunResult } from '../support/run.js'
import {
  CONNECTION_PATTERN,
  requireSshd,
  startSshd,
  type HostKey,
  type Sshd
} from '../support/sshd.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

const CLOSED_PREAUTH = /Connection closed by 127\.0\.0\.1 port \d+ \[preauth\]/g

function count(text: string, pattern: RegExp): number {
  return text.match(new RegExp(pattern.source, 'g'))?.length ?? 0
}

function knownHostsLine(sshd: Sshd, publicLine: string): string {
  const [type, blob] = publicLine.split(/\s+/)
  return `[127.0.0.1]:${sshd.port} ${type} ${blob}\n`
}

function writeKnownHosts(scratch: string, name: string, content: string): string {
  const file = path.join(scratch, name)
  fs.writeFileSync(file, content)
  return file
}

/** Options shared by ssh and sftp: no user/system config, no agent, pinned known_hosts only. */
function clientOptions(sshd: Sshd, knownHosts: string): string[] {
  return [
    '-F',
    '/dev/null',
    '-i',
    sshd.clientKey.path,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'IdentityAgent=none',
    '-o',
    `UserKnownHostsFile=${knownHosts}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'UpdateHostKeys=no',
    '-o',
    'BatchMode=yes',
    '-o',
    'ConnectTimeout=10'
  ]
}

function ssh(sshd: Sshd, knownHosts: string, extra: string[] = []): Promise<RunResult> {
  return runCommand('ssh', [
    ...clientOptions(sshd, knownHosts),
    ...extra,
    '-p',
    String(sshd.port),
    `${sshd.username}@127.0.0.1`,
    'true'
  ])
}

function sftp(sshd: Sshd, knownHosts: string, batch: string, scratch: string): Promise<RunResult> {
  const batchFile = path.join(scratch, `batch-${Date.now()}-${Math.random()}.txt`)
  fs.writeFileSync(batchFile, batch)
  return runCommand('sftp', [
    '-b',
    batchFile,
    ...clientOptions(sshd, knownHosts),
    '-P',
    String(sshd.port),
    `${sshd.username}@127.0.0.1`
  ])
}

function describeRun(result: RunResult, sshd: Sshd): string {
  return `exit ${result.code ?? result.signal}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}\n--- sshd log ---\n${sshd.log()}`
}

function expectSuccess(result: RunResult, sshd: Sshd): void {
  if (result.code !== 0) throw new Error(`expected success, got ${describeRun(result, sshd)}`)
}

function openSshSha256(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`
}

function openSshMd5(blob: Buffer): string {
  const hex = createHash('md5').update(blob).digest('hex')
  return `MD5:${hex.match(/../g)?.join(':')}`
}

describe('sshd harness', () => {
  it('finds sshd', () => {
    const sshdPath = requireSshd()
    expect(path.isAbsolute(sshdPath)).toBe(true)
    expect(fs.existsSync(sshdPath)).toBe(true)
  })

  describe('default server', () => {
    let sshd: Sshd
    let scratch: string

    beforeAll(async () => {
      scratch = makeTempDir('sshd-harness-test-')
      sshd = await startSshd()
    })

    afterAll(async () => {
      await sshd?.stop()
      removeTempDir(scratch)
    })

    it('describes its fresh keys and config accurately', () => {
      expect(sshd.host).toBe('127.0.0.1')
      expect(sshd.port).toBeGreaterThan(0)
      expect(sshd.username).toBe(os.userInfo().username)
      expect(sshd.hostKeys.map(key => key.type)).toEqual([
        'ssh-ed25519',
        'ecdsa-sha2-nistp256',
        'ssh-rsa'
      ])
      for (const key of sshd.hostKeys) {
        const [type, base64] = key.publicLine.split(/\s+/)
        expect(type).toBe(key.type)
        expect(key.blob.toString('base64')).toBe(base64)
        expect(key.sha256).toBe(openSshSha256(key.blob))
        expect(key.md5).toBe(openSshMd5(key.blob))
        expect(fs.readFileSync(`${key.path}.pub`, 'utf8').trim()).toBe(key.publicLine)
        expect(path.dirname(key.path)).toBe(sshd.dir)
      }
      expect(new Set(sshd.hostKeys.map(key => key.sha256)).size).toBe(3)
      expect(sshd.clientKey.privatePem).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----\n/)
      expect(fs.readFileSync(sshd.clientKey.path, 'utf8')).toBe(sshd.clientKey.privatePem)
      expect(sshd.clientKey.publicLine).toMatch(/^ssh-ed25519 AAAA/)
      expect(fs.readFileSync(path.join(sshd.dir, 'authorized_keys'), 'utf8')).toContain(
        sshd.clientKey.publicLine
      )
      const config = fs.readFileSync(path.join(sshd.dir, 'sshd_config'), 'utf8')
      expect(config).toContain('ListenAddress 127.0.0.1\n')
      expect(config).toContain(`Port ${sshd.port}\n`)
      expect(sshd.chrootDir).toBeUndefined()
      expect(sshd.log()).toContain(`Server listening on 127.0.0.1 port ${sshd.port}.`)
    })

    it('has fingerprints matching ssh-keyscan | ssh-keygen -lf -', async () => {
      const scan = await runChecked('ssh-keyscan', [
        '-T',
        '10',
        '-p',
        String(sshd.port),
        '127.0.0.1'
      ])
      const scanned = scan.stdout
        .split('\n')
        .filter(line => line.startsWith(`[127.0.0.1]:${sshd.port} `))
        .map(line => line.split(/\s+/).slice(1, 3).join(' '))
        .sort()
      expect(scanned).toEqual(
        sshd.hostKeys.map(key => key.publicLine.split(/\s+/).slice(0, 2).join(' ')).sort()
      )

      const sha = await runChecked('ssh-keygen', ['-lf', '-'], { input: scan.stdout })
      const md5 = await runChecked('ssh-keygen', ['-E', 'md5', '-lf', '-'], { input: scan.stdout })
      const fingerprints = (out: string): string[] =>
        out
          .split('\n')
          .filter(line => line.trim() !== '')
          .map(line => line.split(/\s+/)[1])
          .sort()
      expect(fingerprints(sha.stdout)).toEqual(sshd.hostKeys.map(key => key.sha256).sort())
      expect(fingerprints(md5.stdout)).toEqual(sshd.hostKeys.map(key => key.md5).sort())
    })

    it('accepts ssh logins pinned to each of its host keys and counts them', async () => {
      const attemptsBefore = sshd.authAttempts()
      const loginsBefore = sshd.acceptedLogins()
      for (const key of sshd.hostKeys) {
        const knownHosts = writeKnownHosts(
          scratch,
          `kh-${key.type}`,
          knownHostsLine(sshd, key.publicLine)
        )
        const result = await ssh(sshd, knownHosts, ['-v'])
        expectSuccess(result, sshd)
        // the client really verified this key, not some other one the server also has
        expect(result.stderr).toContain(`Server host key: ${key.type} ${key.sha256}`)
      }
      expect(sshd.authAttempts()).toBeGreaterThan(attemptsBefore)
      expect(sshd.authAttempts()).toBeGreaterThanOrEqual(attemptsBefore + sshd.hostKeys.length)
      expect(sshd.acceptedLogins()).toBe(loginsBefore + sshd.hostKeys.length)
      expect(sshd.log()).toMatch(
        new RegExp(`userauth-request for user ${sshd.username} service ssh-connection method none`)
      )
    })

    it('accepts sftp -b transfers', async () => {
      const knownHosts = writeKnownHosts(
        scratch,
        'kh-all',
        sshd.hostKeys.map(key => knownHostsLine(sshd, key.publicLine)).join('')
      )
      const local = path.join(scratch, 'local.txt')
      const remote = path.join(scratch, 'remote.txt')
      const back = path.join(scratch, 'back.txt')
      fs.writeFileSync(local, 'hello over sftp\n')
      const loginsBefore = sshd.acceptedLogins()
      const result = await sftp(
        sshd,
        knownHosts,
        `put ${local} ${remote}\nget ${remote} ${back}\n`,
        scratch
      )
      expectSuccess(result, sshd)
      expect(fs.readFileSync(remote, 'utf8')).toBe('hello over sftp\n')
      expect(fs.readFileSync(back, 'utf8')).toBe('hello over sftp\n')
      expect(sshd.acceptedLogins()).toBe(loginsBefore + 1)
      expect(sshd.authAttempts()).toBeGreaterThan(0)
    })
  })

  describe('wrong host key pin', () => {
    let sshd: Sshd
    let scratch: string

    beforeAll(async () => {
      scratch = makeTempDir('sshd-harness-test-')
      sshd = await startSshd()
    })

    afterAll(async () => {
      await sshd?.stop()
      removeTempDir(scratch)
    })

    it('makes ssh fail before any userauth request reaches the server', async () => {
      const connectionsBefore = count(sshd.log(), CONNECTION_PATTERN)
      const kinds: Array<[string, string[]]> = [
        ['ed25519', ['-t', 'ed25519']],
        ['ecdsa', ['-t', 'ecdsa', '-b', '256']],
        ['rsa', ['-t', 'rsa', '-b', '2048']]
      ]
      for (const [kind, args] of kinds) {
        const wrongKey = path.join(scratch, `wrong_${kind}`)
        await runChecked('ssh-keygen', ['-q', ...args, '-N', '', '-f', wrongKey])
        const wrongLine = fs.readFileSync(`${wrongKey}.pub`, 'utf8').trim()
        expect(
          sshd.hostKeys.some(key => key.blob.equals(Buffer.from(wrongLine.split(' ')[1], 'base64')))
        ).toBe(false)
        const knownHosts = writeKnownHosts(
          scratch,
          `kh-wrong-${kind}`,
          knownHostsLine(sshd, wrongLine)
        )
        const result = await ssh(sshd, knownHosts)
        expect(result.code).toBe(255)
        expect(result.stderr).toContain('Host key verification failed.')
      }
      // The server saw each connection and its end, and never a userauth request.
      await waitFor(
        () => count(sshd.log(), CLOSED_PREAUTH) >= kinds.length,
        `sshd to log ${kinds.length} preauth disconnects\n${sshd.log()}`
      )
      expect(count(sshd.log(), CONNECTION_PATTERN)).toBe(connectionsBefore + kinds.length)
      expect(sshd.authAttempts()).toBe(0)
      expect(sshd.acceptedLogins()).toBe(0)

      // Control: the counter does see a real login on the very same server.
      const goodHosts = writeKnownHosts(
        scratch,
        'kh-good',
        knownHostsLine(sshd, sshd.hostKeys[0].publicLine)
      )
      expectSuccess(await ssh(sshd, goodHosts), sshd)
      expect(sshd.authAttempts()).toBeGreaterThan(0)
      expect(sshd.acceptedLogins()).toBe(1)
    })
  })

  describe('sftp-only chroot server', () => {
    let sshd: Sshd
    let scratch: string
    let knownHosts: string

    beforeAll(async () => {
      scratch = makeTempDir('sshd-harness-test-')
      sshd = await startSshd({
        sftpOnlyChroot: true,
        hostKeyTypes: ['ed25519'],
        extraConfig: ['MaxSessions 2']
      })
      knownHosts = writeKnownHosts(scratch, 'kh', knownHostsLine(sshd, sshd.hostKeys[0].publicLine))
    })

    afterAll(async () => {
      await sshd?.stop()
      removeTempDir(scratch)
    })

    it('has a root-owned chroot with a writable upload dir and uses extraConfig', () => {
      expect(sshd.hostKeys.map((key: HostKey) => key.type)).toEqual(['ssh-ed25519'])
      const chrootDir = sshd.chrootDir
      expect(chrootDir).toBeDefined()
      if (chrootDir === undefined) return
      for (let dir = chrootDir; ; dir = path.dirname(dir)) {
        const st = fs.statSync(dir)
        expect({ dir, uid: st.uid, writableByOthers: (st.mode & 0o022) !== 0 }).toEqual({
          dir,
          uid: 0,
          writableByOthers: false
        })
        if (path.dirname(dir) === dir) break
      }
      const upload = fs.statSync(path.join(chrootDir, 'upload'))
      expect(upload.isDirectory()).toBe(true)
      expect(upload.uid).toBe(os.userInfo().uid)
      const config = fs.readFileSync(path.join(sshd.dir, 'sshd_config'), 'utf8')
      expect(config).toContain('MaxSessions 2\n')
      expect(config).toContain(`ChrootDirectory ${chrootDir}\n`)
    })

    it('allows sftp put into /upload', async () => {
      const local = path.join(scratch, 'up.txt')
      fs.writeFileSync(local, 'chrooted upload\n')
      const result = await sftp(
        sshd,
        knownHosts,
        `put ${local} /upload/up.txt\nls /upload\n`,
        scratch
      )
      expectSuccess(result, sshd)
      expect(result.stdout).toContain('/upload/up.txt')
      expect(fs.readFileSync(path.join(sshd.chrootDir ?? '', 'upload', 'up.txt'), 'utf8')).toBe(
        'chrooted upload\n'
      )
      expect(sshd.log()).toContain(`Changed root directory to "${sshd.chrootDir}"`)
    })

    it('refuses a shell command', async () => {
      const loginsBefore = sshd.acceptedLogins()
      const result = await ssh(sshd, knownHosts)
      expect(result.code).not.toBe(0)
      // internal-sftp's refusal arrives on the channel's stdout
      expect(result.stdout + result.stderr).toContain('This service allows sftp connections only.')
      // authentication itself succeeded; it is the forced internal-sftp that refused `true`
      expect(sshd.acceptedLogins()).toBe(loginsBefore + 1)
    })

    it('stop() kills sshd and removes its directories, keeping the log readable', async () => {
      const { dir, chrootDir, port } = sshd
      await sshd.stop()
      await sshd.stop()
      expect(fs.existsSync(dir)).toBe(false)
      expect(fs.existsSync(chrootDir ?? '')).toBe(false)
      expect(sshd.log()).toContain(`Server listening on 127.0.0.1 port ${port}.`)
      const result = await ssh(sshd, knownHosts)
      expect(result.code).toBe(255)
    })
  })

  describe('startup failures', () => {
    it('rejects with the sshd log when sshd exits early', async () => {
      await expect(
        startSshd({ hostKeyTypes: ['ed25519'], extraConfig: ['NoSuchOption yes'] })
      ).rejects.toThrow(/sshd exited during startup[\s\S]*NoSuchOption/)
    })

    it('refuses extraConfig that would take over harness settings', async () => {
      await expect(
        startSshd({ hostKeyTypes: ['ed25519'], extraConfig: ['Port 22'] })
      ).rejects.toThrow(/extraConfig may not set port/)
    })
  })
})
