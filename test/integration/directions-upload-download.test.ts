import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { runAction } from '../support/action.js'
import { startSshd, type Sshd } from '../support/sshd.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

/** Every file below `root`, as relative path → sha256. */
function treeHashes(root: string): Map<string, string> {
  const out = new Map<string, string>()
  const walk = (dir: string, prefix: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const rel = prefix ? `${prefix}/${entry.name}` : entry.name
      const abs = path.join(dir, entry.name)
      if (entry.isDirectory()) walk(abs, rel)
      else out.set(rel, createHash('sha256').update(readFileSync(abs)).digest('hex'))
    }
  }
  walk(root, '')
  return out
}

describe('upload and download against OpenSSH (bundle of src/)', () => {
  let sshd: Sshd
  let workspace: string
  let remoteRoot: string

  beforeAll(async () => {
    sshd = await startSshd()
    workspace = makeTempDir('ws-')
    remoteRoot = makeTempDir('remote-')
    const site = path.join(workspace, 'site')
    mkdirSync(path.join(site, 'assets/img/deep'), { recursive: true })
    writeFileSync(path.join(site, 'index.html'), '<h1>hello</h1>\n')
    writeFileSync(path.join(site, 'file with space.txt'), 'spaced out\n')
    writeFileSync(path.join(site, 'empty.txt'), '')
    writeFileSync(path.join(site, 'assets/app.js'), 'console.log(1)\n')
    writeFileSync(path.join(site, 'assets/img/deep/big.bin'), randomBytes(20 * 1024 * 1024))
  })

  afterAll(async () => {
    await sshd?.stop()
    removeTempDir(workspace)
    removeTempDir(remoteRoot)
  })

  const base = (): Record<string, string> => ({
    host: sshd.host,
    port: String(sshd.port),
    username: sshd.username,
    fingerprint: sshd.hostKeys[0].sha256,
    'private-key': sshd.clientKey.privatePem
  })

  test('a nested tree uploads and downloads back byte-identical, with outputs and summary', async () => {
    const target = path.join(remoteRoot, 'www')
    const up = await runAction(
      { ...base(), direction: 'upload', source: 'site', target },
      { workspace }
    )
    if (up.code !== 0) console.log(up.stdout, up.stderr)
    expect(up.errors).toEqual([])
    expect(up.code).toBe(0)
    const expected = treeHashes(path.join(workspace, 'site'))
    expect(treeHashes(target)).toEqual(expected)
    expect(up.outputs.files).toBe('5')
    const totalBytes = [...expected.keys()].reduce(
      (sum, rel) => sum + statSync(path.join(workspace, 'site', rel)).size,
      0
    )
    expect(up.outputs.bytes).toBe(String(totalBytes))
    const manifest = JSON.parse(readFileSync(up.outputs.manifest, 'utf8'))
    expect(manifest.files).toHaveLength(5)
    const spaced = manifest.files.find((f: { target: string }) =>
      f.target.endsWith('file with space.txt')
    )
    expect(spaced).toMatchObject({ status: 'transferred', size: 11 })
    expect(up.summary).toContain(sshd.hostKeys[0].sha256)
    expect(up.summary).toContain(`127.0.0.1:${sshd.port}`)
    expect(up.stdout).toContain('::group::')

    const down = await runAction(
      { ...base(), direction: 'download', source: target, target: 'back' },
      { workspace }
    )
    expect(down.errors).toEqual([])
    expect(down.code).toBe(0)
    expect(treeHashes(path.join(workspace, 'back'))).toEqual(expected)
    expect(down.outputs.files).toBe('5')
    expect(down.outputs.bytes).toBe(String(totalBytes))
    // No temporary files are left on either side.
    expect([...treeHashes(target).keys()].filter(n => n.includes('.sftp-part'))).toEqual([])
  })

  test('globs keep paths relative to their literal base and excludes apply', async () => {
    const target = path.join(remoteRoot, 'globbed')
    const run = await runAction(
      { ...base(), source: 'site/assets/**\n!**/*.bin', target },
      { workspace }
    )
    expect(run.errors).toEqual([])
    expect([...treeHashes(target).keys()].sort()).toEqual(['app.js'])
  })

  test('a download never writes through a symbolic link in the local target to outside it', async () => {
    const served = path.join(remoteRoot, 'served')
    mkdirSync(path.join(served, 'docs/new'), { recursive: true })
    writeFileSync(path.join(served, 'a.txt'), 'a\n')
    writeFileSync(path.join(served, 'docs/x.txt'), 'x\n')
    writeFileSync(path.join(served, 'docs/new/y.txt'), 'y\n')
    // A checkout may hold a link like this; the server's names are fine, the runner's path is not.
    const outside = makeTempDir('outside-')
    const into = path.join(workspace, 'pulled-links')
    mkdirSync(into)
    symlinkSync(outside, path.join(into, 'docs'))
    try {
      const run = await runAction(
        { ...base(), direction: 'download', source: served, target: 'pulled-links' },
        { workspace }
      )
      expect(run.code).not.toBe(0)
      expect(run.errors[0]).toMatch(/leads outside the target through a symbolic link/)
      expect(readFileSync(path.join(into, 'a.txt'), 'utf8')).toBe('a\n')
      expect(readdirSync(outside)).toEqual([])
    } finally {
      removeTempDir(outside)
    }
  })

  test('a download target inside the workspace that a link carries outside is refused', async () => {
    const outside = makeTempDir('outside-')
    symlinkSync(outside, path.join(workspace, 'linked-site'))
    try {
      const run = await runAction(
        { ...base(), direction: 'download', source: remoteRoot, target: 'linked-site/out' },
        { workspace }
      )
      expect(run.code).not.toBe(0)
      expect(run.errors).toHaveLength(1)
      expect(run.errors[0]).toMatch(
        /Input 'target'.*leads outside the workspace through a symbolic link/
      )
      expect(readdirSync(outside)).toEqual([])
    } finally {
      removeTempDir(outside)
    }
  })
})
