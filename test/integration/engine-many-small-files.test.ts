import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { filesAtOnceLogged, runAction } from '../support/action.js'
import { startSshd, type Sshd } from '../support/sshd.js'
import { withTcpProxy } from '../support/tcp-proxy.js'
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

const FILES = 3000

/** Phases the debug log must time, once per server. */
function timedPhases(stdout: string): string[] {
  return [...stdout.matchAll(/::debug::Timing [^:]+:\d+(?: to \S+)?: (\w+) /g)].map(m => m[1])
}

/** Every phase issue #12 asks the debug log to time, in every direction. */
const PHASES = ['list', 'plan', 'mkdir', 'transfer', 'rename', 'verify']

// Stock sshd limits (MaxSessions 10, MaxStartups 10:30:100): hundreds of files in flight must
// fit in what an unmodified server allows, in every direction. Upload and download go through a
// 30 ms round trip: on loopback the action keeps only 128 files in flight (filesAtOnce).
describe('thousands of small files against OpenSSH with stock limits (bundle of src/)', () => {
  let a: Sshd
  let b: Sshd
  let workspace: string
  let remoteA: string
  let remoteB: string
  let expected: Map<string, string>

  beforeAll(async () => {
    ;[a, b] = await Promise.all([
      startSshd({ hostKeyTypes: ['ed25519'] }),
      startSshd({ hostKeyTypes: ['ed25519'] })
    ])
    workspace = makeTempDir('many-ws-')
    remoteA = makeTempDir('many-a-')
    remoteB = makeTempDir('many-b-')
    const site = path.join(workspace, 'site')
    for (let i = 0; i < FILES; i++) {
      // 30 folders, some three levels deep; sizes from empty to a few KiB, a few past one request.
      const dir = path.join(site, `d${i % 30}`, i % 3 === 0 ? `sub${i % 7}/deep` : '')
      mkdirSync(dir, { recursive: true })
      const size = i % 500 === 0 ? 300 * 1024 + i : (i * 37) % 7000
      const body = Buffer.alloc(size, `${i}:`)
      writeFileSync(path.join(dir, `f${i}.txt`), body)
    }
    expected = treeHashes(site)
  }, 120_000)

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()])
    for (const dir of [workspace, remoteA, remoteB]) removeTempDir(dir)
  })

  const login = (server: Sshd) => ({
    host: server.host,
    port: String(server.port),
    username: server.username,
    fingerprint: server.hostKeys[0].sha256,
    'private-key': server.clientKey.privatePem
  })

  test('upload, download and relay land every file byte-identical', async () => {
    const onA = path.join(remoteA, 'www')
    const [up, down] = await withTcpProxy({ targetPort: a.port, latencyMs: 15 }, async far => {
      const viaFar = { ...login(a), port: String(far.port) }
      const upload = await runAction(
        { ...viaFar, direction: 'upload', source: 'site', target: onA },
        { workspace, timeoutMs: 240_000 }
      )
      const download = await runAction(
        { ...viaFar, direction: 'download', source: onA, target: 'back' },
        { workspace, timeoutMs: 240_000 }
      )
      return [upload, download]
    })
    if (up.code !== 0) console.log(up.stdout.slice(-4000), up.stderr)
    expect(up.errors).toEqual([])
    expect(up.outputs.files).toBe(String(FILES))
    expect(treeHashes(onA)).toEqual(expected)
    expect(timedPhases(up.stdout)).toEqual(expect.arrayContaining(PHASES))
    expect(Math.max(...filesAtOnceLogged(up.stdout))).toBeGreaterThanOrEqual(256)

    expect(down.errors).toEqual([])
    expect(down.outputs.files).toBe(String(FILES))
    expect(treeHashes(path.join(workspace, 'back'))).toEqual(expected)
    expect(timedPhases(down.stdout)).toEqual(expect.arrayContaining(PHASES))
    expect(Math.max(...filesAtOnceLogged(down.stdout))).toBeGreaterThanOrEqual(256)

    const onB = path.join(remoteB, 'copy')
    const relay = await runAction(
      {
        ...login(a),
        direction: 'relay',
        source: onA,
        'target-host': b.host,
        'target-port': String(b.port),
        'target-username': b.username,
        'target-fingerprint': b.hostKeys[0].sha256,
        'target-private-key': b.clientKey.privatePem,
        target: onB
      },
      { workspace, timeoutMs: 240_000 }
    )
    if (relay.code !== 0) console.log(relay.stdout.slice(-4000), relay.stderr)
    expect(relay.errors).toEqual([])
    expect(relay.outputs.files).toBe(String(FILES))
    expect(treeHashes(onB)).toEqual(expected)
    expect(timedPhases(relay.stdout)).toEqual(expect.arrayContaining(PHASES))
  }, 600_000)
})
