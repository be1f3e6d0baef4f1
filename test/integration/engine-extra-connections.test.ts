import { createHash, randomBytes } from 'node:crypto'
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import * as path from 'node:path'
import { runAction } from '../support/action.js'
import { startSshd, type Sshd } from '../support/sshd.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex')

/** Lets `other`'s client key log in to `server` too. */
function authorize(server: Sshd, other: Sshd): void {
  appendFileSync(path.join(server.dir, 'authorized_keys'), `${other.clientKey.publicLine}\n`)
}

const FORWARDED = /server_request_direct_tcpip: originator/g
const count = (text: string, re: RegExp): number => text.match(re)?.length ?? 0

interface Router {
  port: number
  accepted: number
  close(): Promise<void>
}

/** Where a connection goes; `cutAfter` drops it once that many bytes went towards the server. */
type Route = number | { port: number; cutAfter: number } | undefined

/**
 * A loopback TCP hop behind the bastion that sends the n-th connection (0-based) to the port
 * `route(n)` gives, or closes it at once (a server refusing it) when that is undefined.
 */
function startRouter(route: (n: number) => Route): Promise<Router> {
  const sockets = new Set<net.Socket>()
  const router: Router = {
    port: 0,
    accepted: 0,
    close: () =>
      new Promise(resolve => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      })
  }
  const server = net.createServer(client => {
    const to = route(router.accepted++)
    sockets.add(client)
    if (to === undefined) {
      client.destroy()
      return
    }
    const { port, cutAfter } = typeof to === 'number' ? { port: to, cutAfter: Infinity } : to
    const upstream = net.connect(port, '127.0.0.1')
    sockets.add(upstream)
    client.pipe(upstream).pipe(client)
    const end = (): void => {
      client.destroy()
      upstream.destroy()
    }
    let sent = 0
    client.on('data', (chunk: Buffer) => {
      sent += chunk.length
      if (sent > cutAfter) end()
    })
    client.on('error', end).on('close', end)
    upstream.on('error', end).on('close', end)
  })
  return new Promise(resolve =>
    server.listen(0, '127.0.0.1', () => {
      router.port = (server.address() as net.AddressInfo).port
      resolve(router)
    })
  )
}

describe('big files through a jump host use several inner connections (bundle of src/)', () => {
  let bastion: Sshd
  let server: Sshd
  let impostor: Sshd
  let narrow: Sshd
  let workspace: string
  let remote: string
  const big = 24 * 1024 * 1024 + 12_345

  beforeAll(async () => {
    ;[bastion, server, impostor, narrow] = await Promise.all([
      startSshd({ hostKeyTypes: ['ed25519'] }),
      startSshd({ hostKeyTypes: ['ed25519'] }),
      startSshd({ hostKeyTypes: ['ed25519'] }),
      startSshd({ hostKeyTypes: ['ed25519'], extraConfig: ['MaxSessions 2'] })
    ])
    // The impostor and the narrow server accept the same login as the real one.
    authorize(impostor, server)
    authorize(narrow, server)
    workspace = makeTempDir('extra-conn-ws-')
    remote = makeTempDir('extra-conn-remote-')
    mkdirSync(path.join(workspace, 'data'))
    writeFileSync(path.join(workspace, 'data/big.bin'), randomBytes(big))
  })
  afterAll(async () => {
    await Promise.all([bastion?.stop(), server?.stop(), impostor?.stop(), narrow?.stop()])
    removeTempDir(workspace)
    removeTempDir(remote)
  })

  const inputs = (port: number, fingerprint: string, target: string): Record<string, string> => ({
    host: '127.0.0.1',
    port: String(port),
    username: server.username,
    fingerprint,
    'private-key': server.clientKey.privatePem,
    'jump-host': '127.0.0.1',
    'jump-port': String(bastion.port),
    'jump-fingerprint': bastion.hostKeys[0].sha256,
    'jump-private-key': bastion.clientKey.privatePem,
    source: 'data/big.bin',
    target
  })

  test('an upload and a download spread over several logged-in connections, byte-identical', async () => {
    const target = path.join(remote, 'up')
    const [logins, forwards] = [server.acceptedLogins(), count(bastion.log(), FORWARDED)]
    const up = await runAction(inputs(server.port, server.hostKeys[0].sha256, target), {
      workspace
    })
    expect(up.errors).toEqual([])
    expect(sha(path.join(target, 'big.bin'))).toBe(sha(path.join(workspace, 'data/big.bin')))
    // Four logins to the server, each over its own forwarded channel of the one bastion login.
    expect(server.acceptedLogins() - logins).toBe(4)
    expect(count(bastion.log(), FORWARDED) - forwards).toBe(4)
    expect(up.stdout).toContain('Big files spread over 4 connections through the jump host.')
    // A big file to upload is known before connecting: the extra connections start once the
    // bastion is logged in, before the first connection to the server is even verified.
    const opening = up.stdout.indexOf('::debug::Opening 3 extra connections')
    expect(opening).toBeGreaterThan(-1)
    expect(opening).toBeLessThan(up.stdout.indexOf(`Host key of 127.0.0.1:${server.port} verified`))

    const down = await runAction(
      {
        ...inputs(server.port, server.hostKeys[0].sha256, 'fetched'),
        direction: 'download',
        source: path.join(target, 'big.bin')
      },
      { workspace }
    )
    expect(down.errors).toEqual([])
    expect(sha(path.join(workspace, 'fetched/big.bin'))).toBe(
      sha(path.join(workspace, 'data/big.bin'))
    )
    expect(down.stdout).toContain('Big files spread over 4 connections through the jump host.')
    const downOpening = down.stdout.indexOf('::debug::Opening 3 extra connections')
    expect(downOpening).toBeGreaterThan(-1)
    expect(downOpening).toBeLessThan(down.stdout.indexOf('::group::Download'))
    expect(server.acceptedLogins() - logins).toBe(8)
  })

  test('an extra connection that meets another key fails closed: no login there, no file', async () => {
    // The first connection reaches the real server; every later one an impostor with the
    // same login but its own host key.
    const router = await startRouter(n => (n === 0 ? server.port : impostor.port))
    const target = path.join(remote, 'impostor')
    const before = impostor.authAttempts()
    try {
      const run = await runAction(inputs(router.port, server.hostKeys[0].sha256, target), {
        workspace
      })
      expect(run.code).not.toBe(0)
      expect(run.errors.join('\n')).toContain(impostor.hostKeys[0].sha256)
      expect(router.accepted).toBeGreaterThan(1)
      expect(impostor.authAttempts()).toBe(before)
      expect(existsSync(path.join(target, 'big.bin'))).toBe(false)
    } finally {
      await router.close()
    }
  })

  test('extra connections opened early send no credential the first connection did not prove', async () => {
    // The impostor's client key is not authorized on the server: every login there fails.
    const wrongKey = { 'private-key': impostor.clientKey.privatePem }
    const direct = { ...inputs(server.port, server.hostKeys[0].sha256, path.join(remote, 'no')) }
    for (const name of ['jump-host', 'jump-port', 'jump-fingerprint', 'jump-private-key'])
      delete direct[name]
    let before = server.authAttempts()
    const alone = await runAction({ ...direct, ...wrongKey }, { workspace })
    expect(alone.code).not.toBe(0)
    const oneLogin = server.authAttempts() - before
    expect(oneLogin).toBeGreaterThan(0)

    before = server.authAttempts()
    const forwards = count(bastion.log(), FORWARDED)
    const run = await runAction(
      { ...inputs(server.port, server.hostKeys[0].sha256, path.join(remote, 'no')), ...wrongKey },
      { workspace }
    )
    expect(run.code).not.toBe(0)
    expect(run.stdout).toContain('::debug::Opening 3 extra connections')
    // The extra connections reached the server (key exchange) but sent it nothing more.
    expect(count(bastion.log(), FORWARDED) - forwards).toBe(4)
    expect(server.authAttempts() - before).toBe(oneLogin)
  })

  test('an extra connection lost mid-file: only it is dropped, the file lands whole', async () => {
    // The second connection (the first extra one) drops after 4 MiB of the file went through it.
    const router = await startRouter(n =>
      n === 1 ? { port: server.port, cutAfter: 4 * 1024 * 1024 } : server.port
    )
    const target = path.join(remote, 'cut')
    const logins = server.acceptedLogins()
    try {
      const run = await runAction(
        { ...inputs(router.port, server.hostKeys[0].sha256, target), retries: '2' },
        { workspace }
      )
      expect(run.errors).toEqual([])
      expect(sha(path.join(target, 'big.bin'))).toBe(sha(path.join(workspace, 'data/big.bin')))
      // The session's own connection was fine: no reconnect, no new logins, no warning.
      expect(run.stdout).not.toMatch(/Trying again in/)
      expect(server.acceptedLogins() - logins).toBe(4)
    } finally {
      await router.close()
    }
  })

  test('a server that refuses extra connections and caps channels still gets the file', async () => {
    // Two connections get through; the others are closed at once, as MaxStartups does.
    const router = await startRouter(n => (n < 2 ? narrow.port : undefined))
    const target = path.join(remote, 'narrow')
    const logins = narrow.acceptedLogins()
    try {
      const run = await runAction(inputs(router.port, narrow.hostKeys[0].sha256, target), {
        workspace
      })
      expect(run.errors).toEqual([])
      expect(sha(path.join(target, 'big.bin'))).toBe(sha(path.join(workspace, 'data/big.bin')))
      expect(router.accepted).toBe(4)
      expect(narrow.acceptedLogins() - logins).toBe(2)
      expect(run.stdout).toContain('Big files spread over 2 connections through the jump host.')
    } finally {
      await router.close()
    }
  })
})
