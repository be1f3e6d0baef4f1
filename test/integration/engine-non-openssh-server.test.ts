import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { runAction } from '../support/action.js'
import { startEmbeddedServer, type EmbeddedServer } from '../support/embedded-server.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex')

/** Every file below `root`, relative paths. */
function listTree(root: string): string[] {
  const out: string[] = []
  const walk = (dir: string, prefix: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const rel = prefix ? `${prefix}/${e.name}` : e.name
      if (e.isDirectory()) walk(path.join(dir, e.name), rel)
      else out.push(rel)
    }
  }
  walk(root, '')
  return out.sort()
}

describe('an SFTP server that is not OpenSSH (embedded ssh2 server, password login)', () => {
  let server: EmbeddedServer
  let workspace: string

  beforeAll(async () => {
    server = await startEmbeddedServer({ password: 'correct horse battery', hostKeyType: 'ecdsa' })
    workspace = makeTempDir('emb-ws-')
    mkdirSync(path.join(workspace, 'site/sub'), { recursive: true })
    writeFileSync(path.join(workspace, 'site/index.html'), 'v1\n')
    writeFileSync(path.join(workspace, 'site/sub/data.bin'), randomBytes(3 * 1024 * 1024 + 5))
  })
  afterAll(async () => {
    await server?.stop()
    removeTempDir(workspace)
  })
  afterEach(() => server.setFaults({}))

  const inputs = (extra: Record<string, string>): Record<string, string> => ({
    host: server.host,
    port: String(server.port),
    username: server.username,
    password: 'correct horse battery',
    fingerprint: server.hostKey.sha256,
    ...extra
  })

  test('upload, replace (no posix-rename extension) and download back byte-identical', async () => {
    const up = await runAction(inputs({ source: 'site', target: '/www' }), { workspace })
    expect(up.errors).toEqual([])
    writeFileSync(path.join(workspace, 'site/index.html'), 'v2\n')
    const again = await runAction(inputs({ source: 'site', target: '/www' }), { workspace })
    expect(again.errors).toEqual([])
    expect(readFileSync(path.join(server.root, 'www/index.html'), 'utf8')).toBe('v2\n')
    const down = await runAction(
      inputs({ direction: 'download', source: '/www', target: 'back' }),
      { workspace }
    )
    expect(down.errors).toEqual([])
    expect(sha(path.join(workspace, 'back/sub/data.bin'))).toBe(
      sha(path.join(workspace, 'site/sub/data.bin'))
    )
    expect(listTree(path.join(workspace, 'back'))).toEqual(['index.html', 'sub/data.bin'])
  })

  test('a wrong password fails authentication with one clear error', async () => {
    const run = await runAction(inputs({ password: 'wrong', source: 'site', target: '/x' }), {
      workspace
    })
    expect(run.errors).toHaveLength(1)
    expect(run.errors[0]).toMatch(/rejected the login of user 'tester'/)
    expect(run.stdout).not.toMatch(/^::error[^:\n]*::wrong/m)
  })

  test('hostile names in a listing are refused and reported; nothing lands outside the target', async () => {
    mkdirSync(path.join(server.root, 'hostile'), { recursive: true })
    writeFileSync(path.join(server.root, 'ok.txt'), 'fine\n')
    const hostile = ['../../evil', 'a/b', '..', '.', 'x\\y', '/etc/passwd', 'nul\0byte']
    server.setFaults({ hostileNames: hostile })
    const outer = makeTempDir('emb-outer-')
    const target = path.join(outer, 'deep/target')
    try {
      const run = await runAction(inputs({ direction: 'download', source: '/', target }), {
        workspace: outer
      })
      expect(run.code).toBe(0)
      expect(listTree(outer).every(p => p.startsWith('deep/target/'))).toBe(true)
      expect(existsSync(path.join(outer, 'evil'))).toBe(false)
      expect(readFileSync(path.join(target, 'ok.txt'), 'utf8')).toBe('fine\n')
      for (const name of ['../../evil', 'a/b', 'x\\\\y', '/etc/passwd']) {
        expect(run.stdout).toContain(`Refused remote entry '/${name}`)
      }
      const manifest = JSON.parse(readFileSync(run.outputs.manifest, 'utf8'))
      expect(
        manifest.files.filter((f: { status: string }) => f.status === 'refused').length
      ).toBeGreaterThanOrEqual(5)
    } finally {
      removeTempDir(outer)
    }
  })

  test('a server that lies about sizes: the file fails and is not kept under its name', async () => {
    mkdirSync(path.join(server.root, 'liar'), { recursive: true })
    writeFileSync(path.join(server.root, 'liar/short.bin'), randomBytes(100_000))
    for (const delta of [+1000, -1000]) {
      server.setFaults({ sizeDelta: delta })
      const target = `lied${delta}`
      const run = await runAction(
        inputs({ direction: 'download', source: '/liar', target, retries: '0' }),
        { workspace }
      )
      expect(run.code).not.toBe(0)
      expect(run.errors[0]).toMatch(
        delta > 0 ? /ended at 100000 bytes/ : /longer than the 99000 bytes/
      )
      expect(existsSync(path.join(workspace, target, 'short.bin'))).toBe(false)
      expect(readdirSync(path.join(workspace, target))).toEqual([])
    }
  })

  test('a server allowing one SFTP channel still gets the upload', async () => {
    server.setFaults({ maxChannels: 1 })
    const run = await runAction(inputs({ source: 'site', target: '/one-channel' }), { workspace })
    expect(run.errors).toEqual([])
    expect(listTree(path.join(server.root, 'one-channel'))).toEqual(['index.html', 'sub/data.bin'])
  })

  test('a silent server fails within the timeout, saying so', async () => {
    server.setFaults({ silent: true })
    const run = await runAction(inputs({ source: 'site', target: '/never', timeout: '3' }), {
      workspace
    })
    expect(run.errors).toHaveLength(1)
    expect(run.errors[0]).toMatch(/Timed out after 3 s/)
    expect(run.durationMs).toBeLessThan(8000)
  })
})
