import { createHash, randomBytes } from 'node:crypto'
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  utimesSync,
  writeFileSync
} from 'node:fs'
import * as path from 'node:path'
import { runAction } from '../support/action.js'
import { startSshd, type Sshd } from '../support/sshd.js'
import { startTcpProxy } from '../support/tcp-proxy.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex')

/** A known_hosts line pinning this server's first key at its port. */
const pinLine = (s: Sshd): string => `[127.0.0.1]:${s.port} ${s.hostKeys[0].publicLine}`

/** Lets `other`'s client key log in to `server` too. */
function authorize(server: Sshd, other: Sshd): void {
  appendFileSync(path.join(server.dir, 'authorized_keys'), `${other.clientKey.publicLine}\n`)
}

describe('relay, newest selection, jump hosts and fan-out (bundle of src/)', () => {
  let backups: Sshd
  let web: Sshd
  let workspace: string
  let backupDir: string
  let webDir: string

  beforeAll(async () => {
    ;[backups, web] = await Promise.all([
      startSshd({ hostKeyTypes: ['ed25519'] }),
      startSshd({ hostKeyTypes: ['rsa'] })
    ])
    workspace = makeTempDir('relay-ws-')
    backupDir = makeTempDir('backups-')
    webDir = makeTempDir('web-')
    const now = Date.now() / 1000
    const files: Array<[string, number, number]> = [
      ['site-2026-11-20.tar.gz', 3 * 1024 * 1024, now - 5 * 86400],
      ['site-2026-11-24.tar.gz', 9 * 1024 * 1024 + 17, now - 3600],
      ['site-2026-11-22.tar.gz', 2 * 1024 * 1024, now - 3 * 86400]
    ]
    for (const [name, size, mtime] of files) {
      const file = path.join(backupDir, name)
      writeFileSync(file, randomBytes(size))
      utimesSync(file, mtime, mtime)
    }
  })
  afterAll(async () => {
    await Promise.all([backups?.stop(), web?.stop()])
    for (const dir of [workspace, backupDir, webDir]) removeTempDir(dir)
  })

  const relayInputs = (targetFingerprint: string, target: string): Record<string, string> => ({
    direction: 'relay',
    host: backups.host,
    port: String(backups.port),
    username: backups.username,
    fingerprint: backups.hostKeys[0].sha256,
    'private-key': backups.clientKey.privatePem,
    source: `${backupDir}/*.tar.gz`,
    select: 'newest',
    'target-host': web.host,
    'target-port': String(web.port),
    'target-fingerprint': targetFingerprint,
    'target-private-key': web.clientKey.privatePem,
    target
  })

  test('relay of the newest backup lands only that file, byte-identical', async () => {
    const target = path.join(webDir, 'restore')
    const run = await runAction(relayInputs(web.hostKeys[0].sha256, target), { workspace })
    expect(run.errors).toEqual([])
    expect(run.code).toBe(0)
    expect(readdirSync(target)).toEqual(['site-2026-11-24.tar.gz'])
    expect(sha(path.join(target, 'site-2026-11-24.tar.gz'))).toBe(
      sha(path.join(backupDir, 'site-2026-11-24.tar.gz'))
    )
    expect(run.outputs.selected).toBe(`${backupDir}/site-2026-11-24.tar.gz`)
    expect(run.outputs.files).toBe('1')
    expect(run.stdout).toMatch(
      /Selected the newest of 3 files: .*site-2026-11-24\.tar\.gz .*modified 1 h/
    )
    expect(run.summary).toContain(web.hostKeys[0].sha256)
    expect(run.summary).toContain(backups.hostKeys[0].sha256)
    // Nothing was written to the runner's disk but the manifest and the step files.
    expect(readdirSync(workspace)).toEqual([])
  })

  test('a wrong target pin: no login anywhere, nothing read, nothing written', async () => {
    const target = path.join(webDir, 'never')
    const [srcBefore, dstBefore] = [backups.authAttempts(), web.authAttempts()]
    const wrong = `SHA256:${randomBytes(32).toString('base64').replace(/=+$/, '')}`
    const run = await runAction(relayInputs(wrong, target), { workspace })
    expect(run.code).not.toBe(0)
    expect(run.errors).toHaveLength(1)
    expect(run.errors[0]).toContain(web.hostKeys[0].sha256)
    expect(run.errors[0]).toContain("'target-fingerprint'")
    expect(web.authAttempts()).toBe(dstBefore)
    expect(backups.authAttempts()).toBe(srcBefore)
    expect(existsSync(target)).toBe(false)
  })

  test('a successful destination check sends nothing to log in with (dry run: the destination sees no login)', async () => {
    const [srcBefore, dstBefore] = [backups.authAttempts(), web.authAttempts()]
    const run = await runAction(
      { ...relayInputs(web.hostKeys[0].sha256, path.join(webDir, 'dry')), 'dry-run': 'true' },
      { workspace }
    )
    expect(run.errors).toEqual([])
    expect(run.stdout).toContain(`presented ssh-rsa ${web.hostKeys[0].sha256}: pinned`)
    expect(backups.authAttempts()).toBeGreaterThan(srcBefore)
    expect(web.authAttempts()).toBe(dstBefore)
  })

  test('a destination that drops the first connection (throttled) is tried again, pin kept', async () => {
    const target = path.join(webDir, 'throttled')
    const proxy = await startTcpProxy({ targetPort: web.port })
    try {
      proxy.setFaults({ refuse: 1 })
      const inputs = {
        ...relayInputs(web.hostKeys[0].sha256, target),
        'target-port': String(proxy.port)
      }
      const run = await runAction(inputs, { workspace })
      expect(run.errors).toEqual([])
      expect(proxy.counters().refused).toBe(1)
      expect(run.stdout).toMatch(/::warning::.*Trying again in 1 s/)
      expect(readdirSync(target)).toEqual(['site-2026-11-24.tar.gz'])
    } finally {
      await proxy.close()
    }
  })

  test('download with select: newest fetches only the newest', async () => {
    const run = await runAction(
      {
        direction: 'download',
        host: backups.host,
        port: String(backups.port),
        username: backups.username,
        fingerprint: backups.hostKeys[0].sha256,
        'private-key': backups.clientKey.privatePem,
        source: `${backupDir}/site-*.tar.gz`,
        select: 'newest',
        target: 'latest'
      },
      { workspace }
    )
    expect(run.errors).toEqual([])
    expect(readdirSync(path.join(workspace, 'latest'))).toEqual(['site-2026-11-24.tar.gz'])
    expect(sha(path.join(workspace, 'latest/site-2026-11-24.tar.gz'))).toBe(
      sha(path.join(backupDir, 'site-2026-11-24.tar.gz'))
    )
  })
})

describe('jump host (bundle of src/)', () => {
  let bastion: Sshd
  let server: Sshd
  let workspace: string
  let remote: string

  beforeAll(async () => {
    ;[bastion, server] = await Promise.all([startSshd({ hostKeyTypes: ['ecdsa'] }), startSshd()])
    workspace = makeTempDir('jump-ws-')
    remote = makeTempDir('jump-remote-')
    mkdirSync(path.join(workspace, 'site'))
    writeFileSync(path.join(workspace, 'site/index.html'), '<p>through the bastion</p>\n')
  })
  afterAll(async () => {
    await Promise.all([bastion?.stop(), server?.stop()])
    removeTempDir(workspace)
    removeTempDir(remote)
  })

  const inputs = (jumpFingerprint: string, target: string): Record<string, string> => ({
    host: '127.0.0.1',
    port: String(server.port),
    username: server.username,
    fingerprint: server.hostKeys[0].sha256,
    'private-key': server.clientKey.privatePem,
    'jump-host': '127.0.0.1',
    'jump-port': String(bastion.port),
    'jump-fingerprint': jumpFingerprint,
    'jump-private-key': bastion.clientKey.privatePem,
    source: 'site',
    target
  })

  test('an upload goes through the bastion, which logs the forwarded connection', async () => {
    const target = path.join(remote, 'via-jump')
    const run = await runAction(inputs(pinLine(bastion), target), { workspace })
    expect(run.errors).toEqual([])
    expect(readFileSync(path.join(target, 'index.html'), 'utf8')).toBe(
      '<p>through the bastion</p>\n'
    )
    expect(bastion.log()).toMatch(
      new RegExp(
        `server_request_direct_tcpip: originator 127\\.0\\.0\\.1 port \\d+, target 127\\.0\\.0\\.1 port ${server.port}`
      )
    )
    expect(run.stdout).toContain(`Jump host 127.0.0.1:${bastion.port} verified`)
  })

  test('a wrong jump pin fails before any credential reaches the bastion or the server', async () => {
    const [jumpBefore, serverBefore] = [bastion.authAttempts(), server.authAttempts()]
    const run = await runAction(inputs(server.hostKeys[0].sha256, path.join(remote, 'x')), {
      workspace
    })
    expect(run.code).not.toBe(0)
    expect(run.errors[0]).toContain("'jump-fingerprint'")
    expect(bastion.authAttempts()).toBe(jumpBefore)
    expect(server.authAttempts()).toBe(serverBefore)
  })
})

describe('fan-out upload (bundle of src/)', () => {
  let plain: Sshd
  let chrooted: Sshd
  let third: Sshd
  let workspace: string
  let home: string

  beforeAll(async () => {
    home = makeTempDir('fan-home-')
    mkdirSync(path.join(home, 'upload'))
    ;[plain, chrooted, third] = await Promise.all([
      // Relative targets start in `home`, as they start in /upload's parent inside the chroot.
      startSshd({ extraConfig: ['Match User root', `  ForceCommand internal-sftp -d ${home}`] }),
      startSshd({ sftpOnlyChroot: true, hostKeyTypes: ['ecdsa'] }),
      startSshd({ hostKeyTypes: ['ed25519'] })
    ])
    authorize(chrooted, plain)
    authorize(third, plain)
    workspace = makeTempDir('fan-ws-')
    mkdirSync(path.join(workspace, 'site/css'), { recursive: true })
    writeFileSync(path.join(workspace, 'site/index.html'), 'fan-out\n')
    writeFileSync(path.join(workspace, 'site/css/app.css'), randomBytes(300_000))
  })
  afterAll(async () => {
    await Promise.all([plain?.stop(), chrooted?.stop(), third?.stop()])
    removeTempDir(workspace)
    removeTempDir(home)
  })

  const inputs = (hosts: Sshd[], pins: string[]): Record<string, string> => ({
    host: hosts.map(h => `127.0.0.1:${h.port}`).join(', '),
    username: plain.username,
    fingerprint: pins.join('\n'),
    'private-key': plain.clientKey.privatePem,
    source: 'site',
    target: 'upload/site'
  })

  test('reaches a normal server and an SFTP-only chroot, byte-identical', async () => {
    const run = await runAction(inputs([plain, chrooted], [pinLine(plain), pinLine(chrooted)]), {
      workspace
    })
    expect(run.errors).toEqual([])
    expect(run.outputs.files).toBe('4')
    for (const root of [
      path.join(home, 'upload/site'),
      path.join(String(chrooted.chrootDir), 'upload/site')
    ]) {
      expect(sha(path.join(root, 'css/app.css'))).toBe(
        sha(path.join(workspace, 'site/css/app.css'))
      )
      expect(readFileSync(path.join(root, 'index.html'), 'utf8')).toBe('fan-out\n')
    }
  })

  test('a wrong pin for one server: that server sees no login, the other still gets everything', async () => {
    const before = third.authAttempts()
    const wrongForThird = `[127.0.0.1]:${third.port} ${plain.hostKeys[0].publicLine}`
    const run = await runAction(inputs([plain, third], [pinLine(plain), wrongForThird]), {
      workspace
    })
    expect(run.code).not.toBe(0)
    expect(run.errors.join('\n')).toContain(`127.0.0.1:${third.port}`)
    expect(third.authAttempts()).toBe(before)
    expect(run.outputs.files).toBe('2')
    const manifest = JSON.parse(readFileSync(run.outputs.manifest, 'utf8'))
    const failed = manifest.files.filter((f: { status: string }) => f.status === 'failed')
    expect(failed).toHaveLength(2)
    expect(run.summary).toContain(`refused, presented ssh-ed25519 ${third.hostKeys[0].sha256}`)
  })
})
