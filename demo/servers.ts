/**
 * The demo's two throwaway SFTP servers, both on 127.0.0.1 with fresh host keys: OpenSSH's sshd
 * (test/support/sshd.ts) where it can run, else the embedded ssh2 server
 * (test/support/embedded-server.ts), which needs nothing but `npm ci`.
 *
 *   DEMO_SERVER=openssh|embedded   force one kind (default: auto)
 *   DEMO_NO_SSHD=1                 let auto act as if sshd were not installed
 */
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import ssh2 from 'ssh2'
import { startEmbeddedServer } from '../test/support/embedded-server.js'
import { CONNECTION_PATTERN, requireSshd, startSshd } from '../test/support/sshd.js'
import { generateKeyPair, hasSshKeygen, installKeygenStandIn } from './keygen.js'

export type ServerKind = 'openssh' | 'embedded'

/** A setup problem the user can fix (bad setting, missing program): reported without a stack. */
export class DemoSetupError extends Error {}

export interface ServerChoice {
  kind: ServerKind
  /** One line: why this kind (and not the other). */
  why: string
  /** Auto mode picked OpenSSH: if it cannot start, fall back to the embedded server. */
  fallback: boolean
}

export interface DemoServer {
  /** 'A' or 'B'. */
  name: string
  kind: ServerKind
  host: '127.0.0.1'
  port: number
  username: string
  /** How the action logs in: the inputs `private-key` or `password` (without a prefix). */
  login: { kind: 'private-key' | 'password'; secret: string; describe: string }
  hostKey: { type: string; publicLine: string; sha256: string }
  /** A directory for the demo on the server, as SFTP clients name it. */
  remoteDir(name: string): string
  /** The same directory on this machine's disk, to check what arrived. */
  diskDir(name: string): string
  /** Authentication requests the server received so far (any method, 'none' included). */
  authAttempts(): number
  /** TCP connections the server accepted so far. */
  connections(): number
  stop(): Promise<void>
}

/** Decides which server kind to run, from DEMO_SERVER / DEMO_NO_SSHD and what is installed. */
export function chooseServer(env: NodeJS.ProcessEnv = process.env): ServerChoice {
  const forced = (env.DEMO_SERVER ?? '').trim().toLowerCase()
  const noSshd = env.DEMO_NO_SSHD !== undefined && !['', '0', 'false'].includes(env.DEMO_NO_SSHD)
  if (forced === 'embedded') {
    return { kind: 'embedded', why: 'DEMO_SERVER=embedded asks for it', fallback: false }
  }
  if (forced === 'openssh') {
    if (noSshd) {
      throw new DemoSetupError('DEMO_SERVER=openssh and DEMO_NO_SSHD=1 contradict each other')
    }
    let sshd: string
    try {
      sshd = requireSshd()
    } catch (error) {
      throw new DemoSetupError(
        `DEMO_SERVER=openssh, but ${error instanceof Error ? error.message : String(error)}`
      )
    }
    return { kind: 'openssh', why: `DEMO_SERVER=openssh asks for it (${sshd})`, fallback: false }
  }
  if (forced !== '' && forced !== 'auto') {
    throw new DemoSetupError(`DEMO_SERVER must be 'openssh', 'embedded' or 'auto', not '${forced}'`)
  }
  if (noSshd) {
    return { kind: 'embedded', why: 'DEMO_NO_SSHD=1 hides sshd', fallback: false }
  }
  let sshd: string
  try {
    sshd = requireSshd()
  } catch {
    return {
      kind: 'embedded',
      why: 'OpenSSH sshd is not installed (install openssh-server to try the demo against it)',
      fallback: false
    }
  }
  const root = typeof process.getuid === 'function' && process.getuid() === 0
  return {
    kind: 'openssh',
    why: root
      ? `found ${sshd} and running as root`
      : `found ${sshd}; not root, so trying to run it as ${os.userInfo().username}`,
    fallback: true
  }
}

/**
 * Starts server A and server B of the chosen kind below workDir. Every server that started is
 * handed to onStarted at once (for cleanup), even if its sibling then fails. Notes say what had to
 * give on the way (OpenSSH failed to start in auto mode, or ssh-keygen is missing).
 */
export async function startServers(
  choice: ServerChoice,
  workDir: string,
  onStarted: (server: DemoServer) => void
): Promise<{ servers: [DemoServer, DemoServer]; kind: ServerKind; notes: string[] }> {
  const notes: string[] = []
  const both = async (start: (name: string) => Promise<DemoServer>): Promise<DemoServer[]> => {
    const settled = await Promise.allSettled(
      ['A', 'B'].map(name => start(name).then(server => (onStarted(server), server)))
    )
    const up = settled.flatMap(s => (s.status === 'fulfilled' ? [s.value] : []))
    const failure = settled.find(s => s.status === 'rejected')
    if (!failure) return up
    await Promise.allSettled(up.map(server => server.stop()))
    throw (failure as PromiseRejectedResult).reason
  }
  if (choice.kind === 'openssh') {
    try {
      // Not root, in auto mode: make sure sshd really lets us in (a non-root sshd can only log in
      // its own user, and refuses a locked account) before committing to it.
      const probe = choice.fallback && process.getuid?.() !== 0
      const [a, b] = await both(name => startOpenSsh(name, workDir, probe))
      return { servers: [a, b], kind: 'openssh', notes }
    } catch (error) {
      if (!choice.fallback) throw error
      notes.push(
        `OpenSSH is not usable here (${firstLine(String(error))}); using the embedded server`
      )
    }
  }
  if (!hasSshKeygen()) {
    installKeygenStandIn(path.join(workDir, 'bin'))
    notes.push(
      'ssh-keygen is not installed: the embedded servers get host keys from ssh2.utils instead'
    )
  }
  const [a, b] = await both(name =>
    startEmbedded(name, workDir, name === 'A' ? 'password' : 'private-key')
  )
  return { servers: [a, b], kind: 'embedded', notes }
}

function firstLine(text: string): string {
  return text.replace(/^Error: /, '').split('\n')[0]
}

async function startOpenSsh(name: string, workDir: string, probe: boolean): Promise<DemoServer> {
  const sshd = await startSshd({ hostKeyTypes: ['ed25519'] })
  // sshd serves the real file system: the demo's files go below the demo's own temp dir.
  const base = path.join(workDir, `server-${name.toLowerCase()}`)
  fs.mkdirSync(base, { recursive: true })
  const [hostKey] = sshd.hostKeys
  if (probe) {
    try {
      await probeSftpLogin({
        port: sshd.port,
        username: sshd.username,
        privateKey: sshd.clientKey.privatePem,
        sha256: hostKey.sha256
      })
    } catch (error) {
      // sshd says why in its log, e.g. 'User nobody not allowed because account is locked'.
      const why = sshd
        .log()
        .split('\n')
        .find(line => /not allowed|refused|invalid user|locked|expired/i.test(line))
      await sshd.stop()
      const message = error instanceof Error ? error.message : String(error)
      throw new Error(`sshd runs, but a test login failed: ${why?.trim() ?? message}`)
    }
  }
  return {
    name,
    kind: 'openssh',
    host: sshd.host,
    port: sshd.port,
    username: sshd.username,
    login: {
      kind: 'private-key',
      secret: sshd.clientKey.privatePem,
      describe: 'a fresh ed25519 client key (in authorized_keys)'
    },
    hostKey: { type: hostKey.type, publicLine: hostKey.publicLine, sha256: hostKey.sha256 },
    remoteDir: dir => path.join(base, dir),
    diskDir: dir => path.join(base, dir),
    authAttempts: () => sshd.authAttempts(),
    connections: () => sshd.log().match(new RegExp(CONNECTION_PATTERN.source, 'g'))?.length ?? 0,
    stop: () => sshd.stop()
  }
}

async function startEmbedded(
  name: string,
  workDir: string,
  login: 'password' | 'private-key'
): Promise<DemoServer> {
  const root = path.join(workDir, `server-${name.toLowerCase()}-root`)
  fs.mkdirSync(root, { recursive: true })
  const username = 'demo'
  const password = randomBytes(12).toString('base64url')
  const client = generateKeyPair('ed25519', undefined, 'pinned-sftp-demo')
  const server = await startEmbeddedServer({
    root,
    username,
    ...(login === 'password' ? { password } : { authorizedKey: client.public })
  })
  return {
    name,
    kind: 'embedded',
    host: server.host,
    port: server.port,
    username,
    login:
      login === 'password'
        ? { kind: 'password', secret: password, describe: 'a random password' }
        : { kind: 'private-key', secret: client.private, describe: 'a fresh ed25519 client key' },
    hostKey: server.hostKey,
    // The served directory is the client's '/'.
    remoteDir: dir => `/${dir}`,
    diskDir: dir => path.join(server.root, dir),
    authAttempts: () => server.authAttempts(),
    connections: () => server.connections(),
    stop: () => server.stop()
  }
}

/** Logs in over SFTP with ssh2's client (host key checked), then hangs up. */
function probeSftpLogin(target: {
  port: number
  username: string
  privateKey: string
  sha256: string
}): Promise<void> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client()
    let settled = false
    const finish = (error?: Error): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      client.end()
      if (error) reject(error)
      else resolve()
    }
    const timer = setTimeout(() => finish(new Error('test login timed out')), 10_000)
    client.on('error', error => finish(error))
    client.on('ready', () => client.sftp(error => finish(error ?? undefined)))
    client.connect({
      host: '127.0.0.1',
      port: target.port,
      username: target.username,
      privateKey: target.privateKey,
      readyTimeout: 10_000,
      hostVerifier: (key: Buffer) =>
        `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}` ===
        target.sha256
    })
  })
}

/** `[127.0.0.1]:PORT ssh-ed25519 AAAA…`: the server's key as a known_hosts line. */
export function knownHostsLine(server: DemoServer): string {
  const [type, blob] = server.hostKey.publicLine.split(/\s+/)
  const host = server.port === 22 ? server.host : `[${server.host}]:${server.port}`
  return `${host} ${type} ${blob}`
}
