import { createHash, randomBytes } from 'node:crypto'
import { chownSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { filesAtOnceLogged, runAction, type ActionRun } from '../support/action.js'
import type { SftpTestServer } from '../support/daemon.js'
import { startDropbear } from '../support/dropbear.js'
import { startProftpd } from '../support/proftpd.js'
import { probeBanner } from '../support/sshd.js'
import { withTcpProxy } from '../support/tcp-proxy.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

// The servers that are not OpenSSH's sshd, each with its stock limits and the action's default
// settings (hundreds of files in flight): dropbear running OpenSSH's sftp-server, and ProFTPD's
// own SFTP (mod_sftp: at most 10 channels a connection, no limits@openssh.com, no shell).
// The files go up and back down through a 30 ms round trip: on loopback the action keeps only
// 128 files in flight (filesAtOnce), far from what these servers allow.

const FOLDERS = 20
const SMALL = 2000
const BIG = 20 * 1024 * 1024
const TOTAL = SMALL + 1
const FALLBACK = /hashing by reading files back over SFTP/g
const TEMP = /\.sftp-part$/

/** Every file below `root` as relative path → sha256, and any leftover temporary names. */
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

const tempsIn = (hashes: Map<string, string>): string[] =>
  [...hashes.keys()].filter(name => TEMP.test(name))

const manifestOf = (run: ActionRun) =>
  JSON.parse(readFileSync(run.outputs.manifest, 'utf8')) as {
    files: Array<{ target: string; status: string; sha256?: string }>
  }

const login = (server: SftpTestServer, keyIndex = 0) => ({
  host: server.host,
  port: String(server.port),
  username: server.username,
  fingerprint: server.hostKeys[keyIndex].sha256,
  'private-key': server.clientKey.privatePem
})

const targetLogin = (server: SftpTestServer) => ({
  'target-host': server.host,
  'target-port': String(server.port),
  'target-username': server.username,
  'target-fingerprint': server.hostKeys[0].sha256,
  'target-private-key': server.clientKey.privatePem
})

/** A folder in the login user's home, owned by the user, for one test's remote files. */
function remoteDir(server: SftpTestServer, name: string): string {
  const dir = path.join(server.home, name)
  mkdirSync(dir)
  chownSync(dir, server.uid, server.gid)
  return dir
}

function explain(run: ActionRun, server: SftpTestServer): string {
  return `exit ${run.code}\n${run.stdout.slice(-6000)}\n${run.stderr.slice(-2000)}\n--- ${server.version} log ---\n${server.log().slice(-4000)}`
}

function expectSuccess(run: ActionRun, server: SftpTestServer): void {
  if (run.code !== 0 || run.errors.length > 0) throw new Error(explain(run, server))
}

/** Successful logins the server logged so far. */
function logins(server: SftpTestServer): number {
  const pattern =
    server.kind === 'dropbear'
      ? /Pubkey auth succeeded for/g
      : /user '\S+' authenticated via 'publickey' method/g
  return server.log().match(pattern)?.length ?? 0
}

/** Authentication requests of any kind the server logged so far. */
function authRequests(server: SftpTestServer): number {
  const pattern =
    server.kind === 'dropbear'
      ? /(Pubkey auth|auth attempt|Password auth|Bad password|login attempt)/gi
      : /public key SHA256 fingerprint:/g
  return server.log().match(pattern)?.length ?? 0
}

describe('dropbear and ProFTPD mod_sftp with stock limits and default settings', () => {
  let dropbear: SftpTestServer
  let proftpd: SftpTestServer
  let workspace: string
  let expected: Map<string, string>
  const servers = (): SftpTestServer[] => [dropbear, proftpd]

  beforeAll(async () => {
    const started = await Promise.allSettled([startDropbear(), startProftpd()])
    for (const result of started) {
      if (result.status === 'fulfilled') {
        if (result.value.kind === 'dropbear') dropbear = result.value
        else proftpd = result.value
      }
    }
    const failed = started.find(result => result.status === 'rejected')
    if (failed) throw failed.reason
    workspace = makeTempDir('kinds-ws-')
    const site = path.join(workspace, 'site')
    for (let i = 0; i < SMALL; i++) {
      const dir = path.join(site, `dir${i % FOLDERS}`)
      mkdirSync(dir, { recursive: true })
      writeFileSync(path.join(dir, `f${i}.txt`), Buffer.alloc((i * 53) % 4000, `${i}.`))
    }
    writeFileSync(path.join(site, 'big.bin'), randomBytes(BIG))
    expected = treeHashes(site)
  }, 120_000)

  afterAll(async () => {
    await Promise.all([dropbear?.stop(), proftpd?.stop()])
    removeTempDir(workspace)
  })

  test('the harnesses run the versions they say, with their limits left alone', () => {
    expect(dropbear.version).toMatch(/^Dropbear \d/)
    expect(proftpd.version).toMatch(/^ProFTPD \d/)
    const conf = readFileSync(path.join(proftpd.dir, 'proftpd.conf'), 'utf8')
    expect(conf).not.toMatch(/^\s*(MaxClients|MaxInstances|SFTPMaxChannels|MaxConnections)/im)
    expect(conf).not.toMatch(/^\s*(Port 21|ServerType inetd)\b/im)
  })

  describe.each(['dropbear', 'proftpd'] as const)('%s', kind => {
    const server = (): SftpTestServer => (kind === 'dropbear' ? dropbear : proftpd)

    test(`${TOTAL} files up and back down, verified, byte-identical, no temp files`, async () => {
      const s = server()
      const target = path.join(remoteDir(s, 'up'), 'site')
      const [up, down] = await withTcpProxy({ targetPort: s.port, latencyMs: 15 }, async far => {
        const viaFar = { ...login(s), port: String(far.port) }
        const upload = await runAction(
          { ...viaFar, source: 'site', target, verify: 'sha256' },
          { workspace, timeoutMs: 600_000 }
        )
        expectSuccess(upload, s)
        const download = await runAction(
          { ...viaFar, direction: 'download', source: target, target: `back-${kind}` },
          { workspace, timeoutMs: 600_000 }
        )
        return [upload, download]
      })
      expect(Math.max(...filesAtOnceLogged(up.stdout))).toBeGreaterThan(128)
      expect(up.outputs.files).toBe(String(TOTAL))
      const rows = manifestOf(up).files
      expect(rows.filter(r => r.status === 'transferred' && r.sha256)).toHaveLength(TOTAL)
      // ProFTPD runs no commands, and dropbear (2022.83) can abort the connection when commands
      // run beside the transfer (failed assertion `!channel->sent_close`), until the retries run
      // out: both get their files read back, and the log says so once.
      if (kind === 'proftpd') expect(up.stdout.match(FALLBACK)).toHaveLength(1)
      else expect(up.stdout).toContain('dropbear can drop the connection when commands run')
      const remote = treeHashes(target)
      expect(tempsIn(remote)).toEqual([])
      expect(remote).toEqual(expected)

      expectSuccess(down, s)
      expect(Math.max(...filesAtOnceLogged(down.stdout))).toBeGreaterThan(128)
      expect(down.outputs.files).toBe(String(TOTAL))
      const back = treeHashes(path.join(workspace, `back-${kind}`))
      expect(tempsIn(back)).toEqual([])
      expect(back).toEqual(expected)
    }, 1_200_000)

    test('sync: changed re-deploys only what changed', async () => {
      const s = server()
      const local = path.join(workspace, `sync-${kind}`)
      for (let i = 0; i < 200; i++) {
        const dir = path.join(local, `dir${i % FOLDERS}`)
        mkdirSync(dir, { recursive: true })
        writeFileSync(path.join(dir, `f${i}.txt`), `first ${i}\n`)
      }
      const target = path.join(remoteDir(s, 'sync'), 'site')
      const inputs = { ...login(s), source: `sync-${kind}`, target, sync: 'changed' }
      const first = await runAction(inputs, { workspace, timeoutMs: 300_000 })
      expectSuccess(first, s)
      expect(first.outputs.files).toBe('200')

      for (const i of [3, 50, 99, 140, 199]) {
        writeFileSync(path.join(local, `dir${i % FOLDERS}`, `f${i}.txt`), `second ${i}, longer\n`)
      }
      const again = await runAction(inputs, { workspace, timeoutMs: 300_000 })
      expectSuccess(again, s)
      const transferred = manifestOf(again)
        .files.filter(r => r.status === 'transferred')
        .map(r => path.relative(target, r.target))
        .sort()
      expect(transferred).toEqual(
        ['dir3/f3.txt', 'dir10/f50.txt', 'dir19/f99.txt', 'dir0/f140.txt', 'dir19/f199.txt'].sort()
      )
      const remote = treeHashes(target)
      expect(tempsIn(remote)).toEqual([])
      // The sync state file is the action's own, beside the deployed files.
      expect(remote.delete('.pinned-sftp-state.json')).toBe(true)
      expect(remote).toEqual(treeHashes(local))
    }, 600_000)

    test("each of the server's host keys can be pinned; a wrong pin fails closed", async () => {
      const s = server()
      const target = remoteDir(s, 'pins')
      for (let k = 0; k < s.hostKeys.length; k++) {
        const run = await runAction(
          { ...login(s, k), source: 'site/dir0/f0.txt', target: `${target}/k${k}.txt` },
          { workspace }
        )
        expectSuccess(run, s)
        expect(run.stdout).toContain(s.hostKeys[k].sha256)
      }
      const other = (kind === 'dropbear' ? proftpd : dropbear).hostKeys[0].sha256
      const before = { logins: logins(s), requests: authRequests(s) }
      // The patterns below must see the logins that did happen, or they would prove nothing.
      expect(before.logins).toBeGreaterThanOrEqual(s.hostKeys.length)
      expect(before.requests).toBeGreaterThanOrEqual(s.hostKeys.length)
      const wrong = await runAction(
        { ...login(s), fingerprint: other, source: 'site/dir0/f0.txt', target: `${target}/x.txt` },
        { workspace }
      )
      expect(wrong.code).not.toBe(0)
      expect(wrong.errors.join('\n')).toMatch(/host key|fingerprint/i)
      expect(readdirSync(target).sort()).toEqual(s.hostKeys.map((_, k) => `k${k}.txt`).sort())
      // Give the server a moment to log anything it saw, then: no login, no attempt at one.
      await new Promise(resolve => setTimeout(resolve, 500))
      expect(logins(s)).toBe(before.logins)
      expect(authRequests(s)).toBe(before.requests)
    }, 300_000)
  })

  test.each([
    ['proftpd', 'dropbear'],
    ['dropbear', 'proftpd']
  ] as const)(
    'relay from %s to %s, byte-identical',
    async (from, to) => {
      const source = from === 'dropbear' ? dropbear : proftpd
      const target = to === 'dropbear' ? dropbear : proftpd
      const origin = path.join(remoteDir(source, `relay-from-${to}`), 'site')
      const seeded = await runAction(
        { ...login(source), source: 'site', target: origin },
        { workspace, timeoutMs: 600_000 }
      )
      expectSuccess(seeded, source)
      const destination = path.join(remoteDir(target, `relay-to-${from}`), 'site')
      const relay = await runAction(
        {
          ...login(source),
          ...targetLogin(target),
          direction: 'relay',
          source: origin,
          target: destination,
          verify: 'sha256'
        },
        { workspace, timeoutMs: 600_000 }
      )
      if (relay.code !== 0)
        throw new Error(`${explain(relay, source)}\n${target.log().slice(-4000)}`)
      expect(relay.errors).toEqual([])
      expect(relay.outputs.files).toBe(String(TOTAL))
      const landed = treeHashes(destination)
      expect(tempsIn(landed)).toEqual([])
      expect(landed).toEqual(expected)
    },
    1_200_000
  )

  test('no server process or login user outlives stop()', async () => {
    const list = servers()
    await Promise.all(list.map(s => s.stop()))
    const passwd = readFileSync('/etc/passwd', 'utf8')
    for (const s of list) {
      expect(passwd).not.toContain(`${s.username}:`)
      expect(await probeBanner(s.port)).toBe(false)
      expect(existsSync(s.home)).toBe(false)
    }
  })
})
