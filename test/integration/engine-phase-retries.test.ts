import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { runAction, type ActionRun } from '../support/action.js'
import { startEmbeddedServer } from '../support/embedded-server.js'
import { startSshd, type Sshd } from '../support/sshd.js'
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex')
const KB = 1024
const MB = 1024 * KB
const SMALL_FILES = 150

/** Every file below `root` (relative paths), temporary ones included. */
function listTree(root: string): string[] {
  if (!existsSync(root)) return []
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

/** Runs `work` over `items`, `width` at a time (the sweep's runs are independent). */
async function inParallel<T>(items: T[], width: number, work: (item: T) => Promise<void>) {
  const queue = [...items]
  await Promise.all(
    Array.from({ length: width }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await work(item)
    })
  )
}

type Kind = 'upload' | 'download' | 'relay, cut on the source' | 'relay, cut on the destination'

/**
 * Byte offsets (both directions counted) where the first two connections are cut. Measured
 * against this setup (one 8 MB file and 150 small ones, OpenSSH on loopback): key exchange and
 * login end near 4 KB; the SFTP channels start up to about 8 KB; the listing of the source
 * (download, relay) or of the upload's target (it holds an older copy, and `delete` is on)
 * follows up to about 30 KB; then the transfer, and for the upload the deletion.
 */
const OFFSETS = [4 * KB, 6 * KB, 8 * KB, 12 * KB, 24 * KB, 1 * MB, 6 * MB]
const KINDS: Kind[] = [
  'upload',
  'download',
  'relay, cut on the source',
  'relay, cut on the destination'
]

/** The retry warnings a run printed, shortened to their phase, for the sweep's table. */
function retriedPhases(run: ActionRun): string {
  const phases = run.stdout
    .split('\n')
    .filter(l => l.startsWith('::warning::'))
    .map(l => /while ([^(]*?) (?:on|to|from) /.exec(l)?.[1] ?? l.slice(11, 60))
  return phases.join(' | ') || '-'
}

describe('a connection cut in any phase is retried (OpenSSH behind a fault proxy, retries: 3)', () => {
  let sshd: Sshd
  let workspace: string
  let remote: string
  let direct: TcpProxy
  const proxies: TcpProxy[] = []

  beforeAll(async () => {
    sshd = await startSshd({ hostKeyTypes: ['ed25519'] })
    // The side of a relay that is not cut still goes through a proxy: every connection the
    // action makes is on loopback, and the counters show what it did.
    direct = await startTcpProxy({ targetPort: sshd.port })
    workspace = makeTempDir('phase-ws-')
    remote = makeTempDir('phase-remote-')
    const site = path.join(workspace, 'site')
    const source = path.join(remote, 'source')
    for (const root of [site, source]) {
      mkdirSync(path.join(root, 'assets'), { recursive: true })
    }
    const big = randomBytes(8 * MB)
    writeFileSync(path.join(site, 'big.bin'), big)
    writeFileSync(path.join(source, 'big.bin'), big)
    for (let i = 0; i < SMALL_FILES; i++) {
      const rel = i % 3 === 0 ? `assets/s${i}.txt` : `s${i}.txt`
      const body = randomBytes(100 + ((i * 997) % 7000))
      writeFileSync(path.join(site, rel), body)
      writeFileSync(path.join(source, rel), body)
    }
  })
  afterAll(async () => {
    await Promise.all([direct?.close(), ...proxies.map(p => p.close())])
    await sshd?.stop()
    removeTempDir(workspace)
    removeTempDir(remote)
  })

  const login = (proxy: TcpProxy, prefix = ''): Record<string, string> => ({
    [`${prefix}host`]: '127.0.0.1',
    [`${prefix}port`]: String(proxy.port),
    [`${prefix}username`]: sshd.username,
    [`${prefix}fingerprint`]: sshd.hostKeys[0].sha256,
    [`${prefix}private-key`]: sshd.clientKey.privatePem
  })

  /** The run's inputs, and where its files land (on the server, or in the workspace). */
  function setUp(kind: Kind, cut: TcpProxy, name: string) {
    const common = { timeout: '5', retries: '3' }
    const source = path.join(remote, 'source')
    const onServer = path.join(remote, 'out', name)
    switch (kind) {
      case 'upload':
        olderCopy(onServer)
        return {
          inputs: { ...common, ...login(cut), source: 'site', target: onServer, delete: 'true' },
          onServer
        }
      case 'download':
        return {
          inputs: { ...common, ...login(cut), direction: 'download', source, target: name },
          local: path.join(workspace, name)
        }
      case 'relay, cut on the source':
      case 'relay, cut on the destination': {
        const [from, to] = kind === 'relay, cut on the source' ? [cut, direct] : [direct, cut]
        const inputs = {
          ...common,
          ...login(from),
          ...login(to, 'target-'),
          direction: 'relay',
          source,
          target: onServer
        }
        return { inputs, onServer }
      }
    }
  }

  const expected = (): string[] => listTree(path.join(workspace, 'site'))

  /** What an upload replaces: every file with other content, and files `delete` removes. */
  function olderCopy(dir: string): void {
    for (const rel of expected()) {
      mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true })
      writeFileSync(path.join(dir, rel), `older ${rel}\n`)
    }
    mkdirSync(path.join(dir, 'gone'), { recursive: true })
    for (let i = 0; i < 20; i++) writeFileSync(path.join(dir, 'gone', `old${i}.txt`), 'old\n')
  }

  test('two cuts at any offset, in every direction, are survived byte-identical', async () => {
    const cases = KINDS.flatMap(kind => OFFSETS.map(offset => ({ kind, offset })))
    const table: string[] = []
    const failures: string[] = []
    await inParallel(cases, 4, async ({ kind, offset }) => {
      const proxy = await startTcpProxy({ targetPort: sshd.port })
      proxies.push(proxy)
      // The destination's first connection is the host-key probe, over before 4 KB: two more
      // are cut, so that the relay itself loses two.
      const cutConnections = kind === 'relay, cut on the destination' ? 3 : 2
      proxy.setFaults({ cutAfterBytes: offset, cutConnections })
      const name = `${kind.replace(/[^a-z]+/g, '-')}-${offset}`
      const { inputs, onServer, local } = setUp(kind, proxy, name)
      const run = await runAction(inputs, { workspace, timeoutMs: 90_000 })
      const landed = onServer ?? local
      const files = listTree(landed)
      const line = `${kind} @ ${offset}: ${run.errors[0] ?? 'ok'} [${retriedPhases(run)}]`
      table.push(line)
      // Nothing stale either: no temporary file is left on the server (nor in a download's
      // target), so the listing is exactly the source's.
      const identical =
        JSON.stringify(files) === JSON.stringify(expected()) &&
        files.every(rel => sha(path.join(landed, rel)) === sha(path.join(workspace, 'site', rel)))
      if (run.code !== 0 || run.errors.length > 0 || !identical) failures.push(line)
      else if (proxy.counters().cut === 0) failures.push(`${line}: no connection was cut`)
    })
    // Which phase each cut hit, for whoever tunes the offsets.
    console.log(table.sort().join('\n'))
    expect(failures).toEqual([])
  }, 600_000)

  test('more cuts than retries fail with one error naming the phase and the host, nothing half-written', async () => {
    const target = path.join(remote, 'too-many')
    mkdirSync(target, { recursive: true })
    writeFileSync(path.join(target, 'big.bin'), 'previous\n')
    const listing = await startTcpProxy({ targetPort: sshd.port })
    proxies.push(listing)
    // Download: every connection dies while the source is listed.
    listing.setFaults({ cutAfterBytes: 16 * KB, cutConnections: Infinity })
    const down = await runAction(
      {
        ...login(listing),
        direction: 'download',
        source: path.join(remote, 'source'),
        target: 'never',
        retries: '2',
        timeout: '5'
      },
      { workspace }
    )
    expect(down.code).not.toBe(0)
    expect(down.errors).toHaveLength(1)
    expect(down.errors[0]).toMatch(
      new RegExp(`listing .*source on 127\\.0\\.0\\.1:${listing.port}: .*3 times`)
    )
    expect(listTree(path.join(workspace, 'never'))).toEqual([])

    // Upload: every connection dies during the transfer; the file on the server keeps its old
    // content, and no final name holds a partial file.
    const transfer = await startTcpProxy({ targetPort: sshd.port })
    proxies.push(transfer)
    transfer.setFaults({ cutAfterBytes: 3 * MB, cutConnections: Infinity })
    const up = await runAction(
      { ...login(transfer), source: 'site', target, retries: '2', timeout: '5' },
      { workspace }
    )
    expect(up.code).not.toBe(0)
    expect(up.errors).toHaveLength(1)
    expect(up.errors[0]).toMatch(new RegExp(`127\\.0\\.0\\.1:${transfer.port}: .*3 times`))
    expect(readFileSync(path.join(target, 'big.bin'), 'utf8')).toBe('previous\n')
    for (const rel of listTree(target)) {
      if (path.basename(rel).endsWith('.sftp-part') || rel === 'big.bin') continue
      expect(statSync(path.join(target, rel)).size).toBe(
        statSync(path.join(workspace, 'site', rel)).size
      )
      expect(sha(path.join(target, rel))).toBe(sha(path.join(workspace, 'site', rel)))
    }
  }, 180_000)
})

describe('an SFTP subsystem that never answers (embedded ssh2 server)', () => {
  test("fails within about 'timeout', saying which limit it hit, without retrying", async () => {
    const workspace = makeTempDir('silent-sftp-ws-')
    writeFileSync(path.join(workspace, 'a.txt'), 'a\n')
    const server = await startEmbeddedServer({
      password: 'pw',
      faults: { silentSftp: true }
    })
    try {
      const run = await runAction(
        {
          host: server.host,
          port: String(server.port),
          username: server.username,
          password: 'pw',
          fingerprint: server.hostKey.sha256,
          source: 'a.txt',
          target: '/never',
          timeout: '5',
          retries: '3'
        },
        { workspace }
      )
      expect(run.code).not.toBe(0)
      expect(run.errors).toHaveLength(1)
      expect(run.errors[0]).toMatch(
        new RegExp(
          `127\\.0\\.0\\.1:${server.port} answers SSH, but its SFTP subsystem did not ` +
            "answer within 5 s \\('timeout'\\)"
        )
      )
      // The server is there and chose silence: retrying would only repeat it.
      expect(server.connections()).toBe(1)
      expect(run.durationMs).toBeLessThan(15_000)
    } finally {
      await server.stop()
      removeTempDir(workspace)
    }
  }, 60_000)
})
