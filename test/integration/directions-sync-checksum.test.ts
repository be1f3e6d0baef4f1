import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { runAction, type ActionRun } from '../support/action.js'
import { startSshd, type Sshd } from '../support/sshd.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex')

const manifestOf = (run: ActionRun) =>
  JSON.parse(readFileSync(run.outputs.manifest, 'utf8')) as {
    files: Array<{ status: string; target: string; plan?: string }>
  }

/** More files than one sha256sum command takes, so batching and "logged once" are exercised. */
const MANY = 300
const FILES = MANY + 3

/**
 * What `sync: changed` cannot see: new content of the same length, with the time put back. The
 * state, the size and the time all still say "unchanged".
 */
function tamperKeepingSizeAndTime(file: string): void {
  const before = statSync(file)
  const original = readFileSync(file)
  const defaced = Buffer.from(original.toString('utf8').toUpperCase())
  expect(defaced.length).toBe(original.length)
  expect(defaced.equals(original)).toBe(false)
  writeFileSync(file, defaced)
  utimesSync(file, before.atime, before.mtime)
  expect(statSync(file).mtimeMs).toBe(before.mtimeMs)
  expect(statSync(file).size).toBe(before.size)
}

describe('sync: checksum against OpenSSH (bundle of src/)', () => {
  let shell: Sshd
  let chroot: Sshd
  let workspace: string
  let remote: string

  beforeAll(async () => {
    ;[shell, chroot] = await Promise.all([
      startSshd({ hostKeyTypes: ['ed25519'] }),
      startSshd({ hostKeyTypes: ['ed25519'], sftpOnlyChroot: true })
    ])
    workspace = makeTempDir('checksum-ws-')
    remote = makeTempDir('checksum-remote-')
    const site = path.join(workspace, 'site')
    mkdirSync(path.join(site, 'many'), { recursive: true })
    mkdirSync(path.join(site, 'css'))
    writeFileSync(path.join(site, 'index.html'), '<p>welcome to the site</p>\n')
    // Names a shell would read as options or split at quotes, if quoting were wrong.
    writeFileSync(path.join(site, "css/it's here.css"), 'body { color: black }\n')
    writeFileSync(path.join(site, '-n.txt'), randomBytes(3 * 1024 * 1024))
    for (let i = 0; i < MANY; i++) writeFileSync(path.join(site, `many/f${i}.txt`), `file ${i}\n`)
  })
  afterAll(async () => {
    await Promise.all([shell?.stop(), chroot?.stop()])
    removeTempDir(workspace)
    removeTempDir(remote)
  })

  const deploy = (server: Sshd, target: string, extra: Record<string, string>) =>
    runAction(
      {
        host: '127.0.0.1',
        port: String(server.port),
        username: server.username,
        fingerprint: server.hostKeys[0].sha256,
        'private-key': server.clientKey.privatePem,
        source: 'site',
        target,
        ...extra
      },
      { workspace }
    )

  const cases = [
    ['a shell server (sha256sum in batches)', () => shell, 'sha256sum'],
    ['an SFTP-only chroot (read back over SFTP)', () => chroot, 'read-back']
  ] as const

  test.each(cases)(
    '%s: changed misses a same-size, same-time server edit; dry-run shows it; checksum repairs it',
    async (_label, server, method) => {
      const sshd = server()
      const target = method === 'read-back' ? 'upload/site' : path.join(remote, 'site')
      const disk =
        method === 'read-back' ? path.join(sshd.chrootDir as string, 'upload/site') : target
      const local = path.join(workspace, 'site/index.html')
      const there = path.join(disk, 'index.html')

      const first = await deploy(sshd, target, { sync: 'changed' })
      expect(first.errors).toEqual([])
      expect(first.outputs.files).toBe(String(FILES))
      tamperKeepingSizeAndTime(there)

      // The documented limit of `changed`: state, size and time agree, so nothing is sent.
      const changed = await deploy(sshd, target, { sync: 'changed' })
      expect(changed.errors).toEqual([])
      expect(changed.outputs.files).toBe('0')
      expect(sha(there)).not.toBe(sha(local))

      const dry = await deploy(sshd, target, { sync: 'checksum', 'dry-run': 'true' })
      expect(dry.errors).toEqual([])
      const planned = manifestOf(dry).files.filter(f => f.plan && f.plan !== 'skip')
      expect(planned.map(f => [f.plan, path.basename(f.target)])).toEqual([
        ['replace', 'index.html']
      ])
      expect(sha(there)).not.toBe(sha(local))
      const how = method === 'read-back' ? 'by reading back over SFTP' : 'by sha256sum'
      const line = `sync: checksum: ${FILES} same-size files hashed on the server (${FILES} ${how}), 1 differing.`
      expect(dry.stdout).toContain(line)
      expect(dry.summary).toContain('sync: checksum')

      const run = await deploy(sshd, target, { sync: 'checksum' })
      expect(run.errors).toEqual([])
      expect(run.outputs.files).toBe('1')
      expect(run.outputs.skipped).toBe(String(FILES - 1))
      expect(sha(there)).toBe(sha(local))
      expect(run.summary).toContain('sync: checksum')
      const fallbacks = run.stdout.split('hashing by reading files back over SFTP').length - 1
      expect(fallbacks).toBe(method === 'read-back' ? 1 : 0)

      // The state was kept up to date: changed now finds nothing to send.
      const after = await deploy(sshd, target, { sync: 'changed' })
      expect(after.outputs.files).toBe('0')
      expect(after.outputs.skipped).toBe(String(FILES))
    }
  )

  test('a file whose size differs is sent without hashing; a new file is created', async () => {
    const target = path.join(remote, 'sized')
    const first = await deploy(shell, target, { sync: 'checksum' })
    expect(first.errors).toEqual([])
    expect(first.outputs.files).toBe(String(FILES))
    expect(first.stdout).toContain(
      'sync: checksum: 0 same-size files hashed on the server, 0 differing.'
    )
    writeFileSync(path.join(target, "css/it's here.css"), 'grown on the server\n'.repeat(3))
    const run = await deploy(shell, target, { sync: 'checksum' })
    expect(run.errors).toEqual([])
    expect(run.outputs.files).toBe('1')
    expect(run.stdout).toContain(
      `sync: checksum: ${FILES - 1} same-size files hashed on the server (${FILES - 1} by sha256sum), 0 differing.`
    )
    expect(sha(path.join(target, "css/it's here.css"))).toBe(
      sha(path.join(workspace, "site/css/it's here.css"))
    )
  })
})
