import { createHash, randomBytes } from 'node:crypto'
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync
} from 'node:fs'
import * as path from 'node:path'
import { runAction, type ActionRun } from '../support/action.js'
import { startSshd, type Sshd } from '../support/sshd.js'
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex')

function tree(root: string): Map<string, string> {
  const out = new Map<string, string>()
  const walk = (dir: string, prefix: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const rel = prefix ? `${prefix}/${e.name}` : e.name
      if (e.isDirectory()) walk(path.join(dir, e.name), rel)
      // The sync state file is the action's own bookkeeping, not part of the site.
      else if (e.name !== '.pinned-sftp-state.json') out.set(rel, sha(path.join(dir, e.name)))
    }
  }
  walk(root, '')
  return out
}

const manifestOf = (run: ActionRun) =>
  JSON.parse(readFileSync(run.outputs.manifest, 'utf8')) as {
    files: Array<{ status: string; target: string; sha256?: string; plan?: string; error?: string }>
  }

describe('sync, delete and dry-run through a 50 ms round-trip proxy (bundle of src/)', () => {
  let sshd: Sshd
  let proxy: TcpProxy
  let workspace: string
  let remote: string
  let site: string
  let target: string

  beforeAll(async () => {
    sshd = await startSshd({ hostKeyTypes: ['ed25519'] })
    proxy = await startTcpProxy({ targetPort: sshd.port, latencyMs: 25 })
    workspace = makeTempDir('sync-ws-')
    remote = makeTempDir('sync-remote-')
    site = path.join(workspace, 'site')
    target = path.join(remote, 'www')
    for (let i = 0; i < 500; i++) {
      const dir = path.join(site, `section${i % 10}`)
      mkdirSync(dir, { recursive: true })
      writeFileSync(path.join(dir, `page${i}.html`), `<p>page ${i}</p>\n`.repeat(1 + (i % 20)))
    }
    mkdirSync(path.join(remote, 'outside'))
    writeFileSync(path.join(remote, 'outside/keep.txt'), 'not ours\n')
  })
  afterAll(async () => {
    await proxy?.close()
    await sshd?.stop()
    removeTempDir(workspace)
    removeTempDir(remote)
  })

  const sync = (extra: Record<string, string> = {}) =>
    runAction(
      {
        host: '127.0.0.1',
        port: String(proxy.port),
        username: sshd.username,
        fingerprint: sshd.hostKeys[0].sha256,
        'private-key': sshd.clientKey.privatePem,
        source: 'site',
        target,
        sync: 'changed',
        delete: 'true',
        ...extra
      },
      { workspace }
    )

  test('first sync sends 500 files; an unchanged re-sync moves nothing and sends next to nothing', async () => {
    const first = await sync()
    expect(first.errors).toEqual([])
    expect(first.outputs.files).toBe('500')
    expect(tree(target).size).toBe(500)
    expect(existsSync(path.join(target, '.pinned-sftp-state.json'))).toBe(true)
    const sentBefore = proxy.counters().bytesClientToServer
    const again = await sync()
    expect(again.errors).toEqual([])
    expect(again.outputs.files).toBe('0')
    expect(again.outputs.skipped).toBe('500')
    expect(again.outputs.deleted).toBe('0')
    // Requests only (login, one listing per folder, the state): the 500 files' content and the
    // open/write/close/rename of each would be several times this.
    expect(proxy.counters().bytesClientToServer - sentBefore).toBeLessThan(40_000)
  })

  test('5 edits, 2 additions, 3 removals: dry-run shows them and changes nothing, then exactly 7 move and 3 go', async () => {
    for (const i of [1, 2, 3, 4, 5]) {
      writeFileSync(path.join(site, `section${i % 10}`, `page${i}.html`), `<p>edited ${i}</p>\n`)
    }
    writeFileSync(path.join(site, 'section0/new-a.html'), 'new a\n')
    writeFileSync(path.join(site, 'section1/new-b.html'), 'new b\n')
    for (const i of [10, 20, 30]) rmSync(path.join(site, `section0/page${i}.html`))
    const before = tree(target)

    const dry = await sync({ 'dry-run': 'true' })
    expect(dry.errors).toEqual([])
    expect(tree(target)).toEqual(before)
    const plan = manifestOf(dry).files.filter(f => f.plan && f.plan !== 'skip')
    expect(plan.filter(f => f.plan === 'replace')).toHaveLength(5)
    expect(plan.filter(f => f.plan === 'create')).toHaveLength(2)
    expect(
      plan
        .filter(f => f.plan === 'delete')
        .map(f => path.basename(f.target))
        .sort()
    ).toEqual(['page10.html', 'page20.html', 'page30.html'])
    expect(dry.summary).toContain('dry run, nothing changed')
    expect(dry.outputs.files).toBe('0')

    const run = await sync()
    expect(run.errors).toEqual([])
    expect(run.outputs.files).toBe('7')
    expect(run.outputs.deleted).toBe('3')
    expect(tree(target)).toEqual(tree(site))
    expect(readFileSync(path.join(remote, 'outside/keep.txt'), 'utf8')).toBe('not ours\n')
  })

  test('a file edited on the server by hand is restored on the next sync', async () => {
    const file = path.join(target, 'section7/page7.html')
    writeFileSync(file, 'defaced\n')
    const past = Date.now() / 1000 + 5
    utimesSync(file, past, past)
    const run = await sync()
    expect(run.errors).toEqual([])
    expect(run.outputs.files).toBe('1')
    expect(readFileSync(file, 'utf8')).toBe(
      readFileSync(path.join(site, 'section7/page7.html'), 'utf8')
    )
  })

  test('files a ! exclude protects (as the user wrote it, with the source path) are never deleted', async () => {
    mkdirSync(path.join(target, 'uploads'), { recursive: true })
    writeFileSync(path.join(target, 'uploads/photo.jpg'), 'a user upload\n')
    const run = await sync({ source: 'site\n!site/uploads/**' })
    expect(run.errors).toEqual([])
    expect(run.outputs.deleted).toBe('0')
    expect(readFileSync(path.join(target, 'uploads/photo.jpg'), 'utf8')).toBe('a user upload\n')
    const unprotected = await sync()
    expect(unprotected.outputs.deleted).toBe('1')
    expect(existsSync(path.join(target, 'uploads'))).toBe(false)
  })

  test('delete toward / or the login directory is refused before anything changes', async () => {
    for (const bad of ['/', '~', '.']) {
      const run = await sync({ target: bad })
      expect(run.errors).toHaveLength(1)
      expect(run.errors[0]).toMatch(/Input 'delete': refused/)
    }
  })
})

describe('verify: sha256, sidecars and releases against OpenSSH (bundle of src/)', () => {
  let shell: Sshd
  let chroot: Sshd
  let workspace: string
  let remote: string

  beforeAll(async () => {
    ;[shell, chroot] = await Promise.all([
      startSshd({ hostKeyTypes: ['ed25519'] }),
      startSshd({ hostKeyTypes: ['ed25519'], sftpOnlyChroot: true })
    ])
    workspace = makeTempDir('verify-ws-')
    remote = makeTempDir('verify-remote-')
    mkdirSync(path.join(workspace, 'site/deep'), { recursive: true })
    writeFileSync(path.join(workspace, 'site/index.html'), 'hash me\n')
    writeFileSync(path.join(workspace, 'site/deep/blob.bin'), randomBytes(12 * 1024 * 1024 + 3))
  })
  afterAll(async () => {
    await Promise.all([shell?.stop(), chroot?.stop()])
    removeTempDir(workspace)
    removeTempDir(remote)
  })

  const inputs = (server: Sshd, extra: Record<string, string>) => ({
    host: '127.0.0.1',
    port: String(server.port),
    username: server.username,
    fingerprint: server.hostKeys[0].sha256,
    'private-key': server.clientKey.privatePem,
    ...extra
  })

  test('records correct hashes on a shell server (sha256sum) and an SFTP-only chroot (read back)', async () => {
    const expected = new Map(
      [...tree(path.join(workspace, 'site'))].map(([rel, hash]) => [path.basename(rel), hash])
    )
    for (const [server, target, method] of [
      [shell, path.join(remote, 'hashed'), 'sha256sum'],
      [chroot, 'upload/hashed', 'read'] as const
    ] as Array<[Sshd, string, string]>) {
      const run = await runAction(inputs(server, { source: 'site', target, verify: 'sha256' }), {
        workspace
      })
      expect(run.errors).toEqual([])
      const rows = manifestOf(run).files
      expect(rows).toHaveLength(2)
      for (const row of rows) expect(row.sha256).toBe(expected.get(path.basename(row.target)))
      if (method === 'read') expect(run.stdout).toContain('hashing by reading files back over SFTP')
      else expect(run.stdout).not.toContain('hashing by reading files back')
    }
  })

  test('a backup whose sidecar checksum disagrees is refused and not kept', async () => {
    const backups = path.join(remote, 'backups')
    mkdirSync(backups, { recursive: true })
    writeFileSync(path.join(backups, 'good.tar'), 'good backup\n')
    writeFileSync(
      path.join(backups, 'good.tar.sha256'),
      `${sha(path.join(backups, 'good.tar'))}  good.tar\n`
    )
    writeFileSync(path.join(backups, 'bad.tar'), 'tampered backup\n')
    writeFileSync(path.join(backups, 'SHA256SUMS'), `${'0'.repeat(64)}  bad.tar\n`)
    const run = await runAction(
      inputs(shell, {
        direction: 'download',
        source: `${backups}/*.tar`,
        target: 'pulled',
        verify: 'sha256'
      }),
      { workspace }
    )
    expect(run.code).not.toBe(0)
    expect(run.errors[0]).toMatch(/bad\.tar.*SHA256SUMS says 0{64}/)
    expect(readdirSync(path.join(workspace, 'pulled'))).toEqual(['good.tar'])
  })

  test('a sidecar written with a path or --tag is honoured; one naming another file refuses the download', async () => {
    const drops = path.join(remote, 'drops')
    mkdirSync(drops, { recursive: true })
    for (const name of ['pathed.tar', 'tagged.tar', 'misnamed.tar', 'linked.tar']) {
      writeFileSync(path.join(drops, name), `${name} contents\n`)
    }
    const digest = (name: string): string => sha(path.join(drops, name))
    writeFileSync(
      path.join(drops, 'pathed.tar.sha256'),
      `${digest('pathed.tar')}  build/pathed.tar\n`
    )
    writeFileSync(
      path.join(drops, 'tagged.tar.sha256'),
      `SHA256 (tagged.tar) = ${digest('tagged.tar')}\n`
    )
    // The right digest, but the line vouches for a different file: never read as "no sidecar".
    writeFileSync(path.join(drops, 'misnamed.tar.sha256'), `${digest('misnamed.tar')}  other.tar\n`)
    // A sidecar that is a link is still a sidecar (here one that disagrees).
    writeFileSync(path.join(drops, 'v1.sha256'), `${'0'.repeat(64)}  linked.tar\n`)
    symlinkSync('v1.sha256', path.join(drops, 'linked.tar.sha256'))
    const run = await runAction(
      inputs(shell, {
        direction: 'download',
        source: `${drops}/*.tar`,
        target: 'drops',
        verify: 'sha256'
      }),
      { workspace }
    )
    expect(run.code).not.toBe(0)
    const failed = new Map(
      manifestOf(run)
        .files.filter(f => f.status === 'failed')
        .map(f => [path.basename(f.target), f.error ?? ''])
    )
    expect([...failed.keys()].sort()).toEqual(['linked.tar', 'misnamed.tar'])
    expect(failed.get('misnamed.tar')).toMatch(
      /misnamed\.tar\.sha256 holds no SHA-256 for misnamed\.tar/
    )
    expect(failed.get('linked.tar')).toMatch(/linked\.tar\.sha256 says 0{64}/)
    expect(readdirSync(path.join(workspace, 'drops')).sort()).toEqual(['pathed.tar', 'tagged.tar'])
  })

  test('four release deploys leave current on the fourth and only keep-releases releases', async () => {
    const target = path.join(remote, 'app')
    const ids = [
      '20261125T100000Z-a',
      '20261125T110000Z-b',
      '20261125T120000Z-c',
      '20261125T130000Z-d'
    ]
    for (const [i, id] of ids.entries()) {
      writeFileSync(path.join(workspace, 'site/index.html'), `release ${i + 1}\n`)
      const run = await runAction(
        inputs(shell, {
          source: 'site',
          target,
          release: 'true',
          'release-id': id,
          'keep-releases': '2'
        }),
        { workspace }
      )
      expect(run.errors).toEqual([])
      expect(run.outputs['release-path']).toBe(`${target}/releases/${id}`)
    }
    expect(lstatSync(path.join(target, 'current')).isSymbolicLink()).toBe(true)
    expect(readlinkSync(path.join(target, 'current'))).toBe(`releases/${ids[3]}`)
    expect(readFileSync(path.join(target, 'current/index.html'), 'utf8')).toBe('release 4\n')
    // The hidden folder is the action's record of the user-given IDs it deployed.
    expect(readdirSync(path.join(target, 'releases')).sort()).toEqual([
      '.pinned-sftp-releases',
      ...ids.slice(2)
    ])
    expect(existsSync(path.join(target, 'current/deep/blob.bin'))).toBe(true)
  })

  test('a real current directory is refused while planning, before any release is uploaded', async () => {
    const target = path.join(remote, 'hand-made')
    mkdirSync(path.join(target, 'current'), { recursive: true })
    writeFileSync(path.join(target, 'current/index.html'), 'hand-made\n')
    const run = await runAction(
      inputs(shell, {
        source: 'site',
        target,
        release: 'true',
        'release-id': '20261125T140000Z-e'
      }),
      { workspace }
    )
    expect(run.code).not.toBe(0)
    expect(run.errors).toHaveLength(1)
    expect(run.errors[0]).toMatch(/current' on the server is a real directory, not a symbolic link/)
    expect(existsSync(path.join(target, 'releases'))).toBe(false)
    expect(readFileSync(path.join(target, 'current/index.html'), 'utf8')).toBe('hand-made\n')
  })
})
