/**
 * Starts a real OpenSSH sshd on 127.0.0.1 for integration tests.
 *
 * Every server gets its own temp dir with fresh host keys, a fresh client key in authorized_keys,
 * a generated sshd_config and the sshd log (written with `-E`). Nothing listens on anything but
 * 127.0.0.1. If OpenSSH is missing the helpers throw: tests that need sshd fail, they never skip.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { freeLoopbackPort, probeBanner } from './loopback.js'
import { spawnDaemon, startOnFreePort, type Daemon } from './daemon.js'
import { findKeygen, findSshd } from './programs.mjs'
import { runChecked } from './run.js'
import { makeTempDir, removeTempDir } from './tmp.js'

export interface HostKey {
  /** Key type as in the .pub file: 'ssh-ed25519', 'ecdsa-sha2-nistp256' or 'ssh-rsa'. */
  type: string
  /** Contents of the .pub file (type, base64 blob, comment), without the trailing newline. */
  publicLine: string
  /** The decoded public key blob (the base64 field of publicLine). */
  blob: Buffer
  /** 'SHA256:...' as printed by `ssh-keygen -lf`. */
  sha256: string
  /** 'MD5:xx:xx:...' as printed by `ssh-keygen -E md5 -lf`. */
  md5: string
  /** Path of the private host key file (the public half is `${path}.pub`). */
  path: string
}

export type HostKeyKind = 'ed25519' | 'ecdsa' | 'rsa'

export interface SshdOptions {
  /** Host keys to generate and serve, in this order. Default: ['ed25519', 'ecdsa', 'rsa']. */
  hostKeyTypes?: HostKeyKind[]
  /**
   * Extra sshd_config lines, e.g. 'MaxSessions 2'. sshd uses the first value it reads for a
   * keyword, so global lines are written before the harness defaults and override them
   * (StrictModes, UsePAM, PermitRootLogin, PasswordAuthentication, KbdInteractiveAuthentication,
   * PubkeyAuthentication, Subsystem, LogLevel). From the first `Match` line on, lines are appended
   * after everything else. Port, ListenAddress, AddressFamily, HostKey, PidFile and
   * AuthorizedKeysFile belong to the harness and are rejected; LogLevel may only be raised
   * (DEBUG1..DEBUG3), since authAttempts() needs DEBUG1 lines.
   */
  extraConfig?: string[]
  /**
   * Chroot the current user into a root-owned directory with a writable subdirectory 'upload'
   * and force internal-sftp (no shell, no TCP forwarding). Needs root.
   */
  sftpOnlyChroot?: boolean
}

export interface Sshd {
  host: '127.0.0.1'
  port: number
  /** The current user (os.userInfo().username); the client key is authorised for it. */
  username: string
  /** Host keys in the order given by hostKeyTypes. */
  hostKeys: HostKey[]
  clientKey: {
    /** OpenSSH-format ('-----BEGIN OPENSSH PRIVATE KEY-----') unencrypted ed25519 private key. */
    privatePem: string
    publicLine: string
    /** Path of the private key file (mode 0600, usable with `ssh -i`). */
    path: string
  }
  /** Temp dir holding sshd_config, keys, authorized_keys, pid file and sshd.log. */
  dir: string
  /** With sftpOnlyChroot: the chroot root on disk (files put to /upload/x land in chrootDir/upload/x). */
  chrootDir?: string
  /** The sshd log so far (plus anything sshd wrote to stderr). Still available after stop(). */
  log(): string
  /** Number of SSH_MSG_USERAUTH_REQUESTs the server received (any method, 'none' included). */
  authAttempts(): number
  /** Number of successful logins ('Accepted <method> for <user> from ...'). */
  acceptedLogins(): number
  /** Kill sshd, wait for it to exit and remove dir (and chrootDir). Safe to call twice. */
  stop(): Promise<void>
}

/**
 * Logged (at LogLevel DEBUG1 and above) by auth2.c input_userauth_request() for every
 * SSH_MSG_USERAUTH_REQUEST the server receives, before the method is even tried, e.g.
 *   debug1: userauth-request for user root service ssh-connection method none [preauth]
 */
export const USERAUTH_REQUEST_PATTERN = /userauth-request for user \S+ service \S+ method \S+/g

/**
 * Logged by auth.c auth_log() for every successful authentication, e.g.
 *   Accepted publickey for root from 127.0.0.1 port 36742 ssh2: ED25519 SHA256:...
 * ('Accepted key ED25519 ... found at ...' lines are not logins and do not match.)
 */
export const ACCEPTED_LOGIN_PATTERN = /\bAccepted \S+ for \S+ from \S+ port \d+/g

/** Logged by sshd for every TCP connection it accepts (the readiness probe included). */
export const CONNECTION_PATTERN =
  /\bConnection from 127\.0\.0\.1 port \d+ on 127\.0\.0\.1 port \d+/g

const SSHD_MISSING =
  'OpenSSH sshd not found: install the openssh-server package (apt-get install openssh-server)'
const KEYGEN_MISSING =
  'OpenSSH ssh-keygen not found: install the openssh-client package (apt-get install openssh-client)'
const PRIVSEP_DIR = '/run/sshd'
const HOST = '127.0.0.1'

const KEYGEN_ARGS: Record<HostKeyKind, string[]> = {
  ed25519: ['-t', 'ed25519'],
  ecdsa: ['-t', 'ecdsa', '-b', '256'],
  rsa: ['-t', 'rsa', '-b', '3072']
}

/** Keywords whose values the harness depends on; extraConfig may not set them. */
const RESERVED_KEYWORDS = new Set([
  'port',
  'listenaddress',
  'addressfamily',
  'hostkey',
  'pidfile',
  'authorizedkeysfile'
])
const DEBUG_LOG_LEVELS = new Set(['debug', 'debug1', 'debug2', 'debug3'])

function countMatches(text: string, pattern: RegExp): number {
  return text.match(new RegExp(pattern.source, 'g'))?.length ?? 0
}

/** Absolute path of OpenSSH's sshd; throws if it is not installed. */
export function requireSshd(): string {
  const found = findSshd()
  if (!found && process.env.SSHD_PATH) {
    throw new Error(`SSHD_PATH=${process.env.SSHD_PATH} is not an executable file`)
  }
  if (!found) throw new Error(SSHD_MISSING)
  return found
}

export function requireKeygen(): string {
  const found = findKeygen()
  if (!found) throw new Error(KEYGEN_MISSING)
  return found
}

/** A path that can be written into sshd_config verbatim (no quoting, no %-token expansion). */
function configPath(p: string): string {
  if (!path.isAbsolute(p) || /[\s"'%#\\]/.test(p)) {
    throw new Error(`sshd harness: path unusable in sshd_config: ${JSON.stringify(p)}`)
  }
  return p
}

function ensurePrivsepDir(): void {
  try {
    const created = fs.mkdirSync(PRIVSEP_DIR, { recursive: true, mode: 0o755 })
    if (created !== undefined) fs.chmodSync(PRIVSEP_DIR, 0o755)
  } catch (error) {
    throw new Error(
      `sshd harness: cannot create the privilege separation directory ${PRIVSEP_DIR}: ${String(error)}`
    )
  }
}

async function fingerprint(
  keygen: string,
  pubPath: string,
  hash: 'sha256' | 'md5'
): Promise<string> {
  const { stdout } = await runChecked(keygen, ['-E', hash, '-l', '-f', pubPath])
  const match = /^\d+ ((?:SHA256|MD5):\S+) /.exec(stdout)
  if (!match) throw new Error(`sshd harness: unexpected ssh-keygen -l output: ${stdout}`)
  return match[1]
}

export async function generateKey(
  keygen: string,
  file: string,
  kind: HostKeyKind,
  comment: string
): Promise<{ publicLine: string; type: string; blob: Buffer }> {
  await runChecked(keygen, ['-q', ...KEYGEN_ARGS[kind], '-N', '', '-C', comment, '-f', file])
  const publicLine = fs.readFileSync(`${file}.pub`, 'utf8').trim()
  const [type, base64] = publicLine.split(/\s+/)
  if (!type || !base64) throw new Error(`sshd harness: malformed public key ${file}.pub`)
  return { publicLine, type, blob: Buffer.from(base64, 'base64') }
}

export async function generateHostKey(
  keygen: string,
  dir: string,
  kind: HostKeyKind
): Promise<HostKey> {
  const file = path.join(dir, `ssh_host_${kind}_key`)
  const { publicLine, type, blob } = await generateKey(keygen, file, kind, `sshd-harness-${kind}`)
  const [sha256, md5] = await Promise.all([
    fingerprint(keygen, `${file}.pub`, 'sha256'),
    fingerprint(keygen, `${file}.pub`, 'md5')
  ])
  return { type, publicLine, blob, sha256, md5, path: file }
}

/** A test server's host keys (in `dir`) and the ed25519 key its client logs in with. */
export async function harnessKeys(
  keygen: string,
  dir: string,
  kinds: HostKeyKind[],
  harness: string
): Promise<{ hostKeys: HostKey[]; clientKey: Sshd['clientKey'] }> {
  const clientPath = path.join(dir, 'client_ed25519_key')
  const [hostKeys, client] = await Promise.all([
    Promise.all(kinds.map(kind => generateHostKey(keygen, dir, kind))),
    generateKey(keygen, clientPath, 'ed25519', `${harness}-client`)
  ])
  const privatePem = fs.readFileSync(clientPath, 'utf8')
  return { hostKeys, clientKey: { privatePem, publicLine: client.publicLine, path: clientPath } }
}

/** True when every component of dir is root-owned and not group/world writable (sshd's rule). */
function isSafeChrootPath(dir: string): boolean {
  let current = dir
  for (;;) {
    const st = fs.statSync(current)
    if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0) return false
    const parent = path.dirname(current)
    if (parent === current) return true
    current = parent
  }
}

/**
 * sshd refuses a ChrootDirectory if any component of its path is not root-owned or is group/world
 * writable. os.tmpdir() is normally /tmp (mode 1777), so the chroot goes under the first
 * candidate that qualifies: os.tmpdir() itself if it does, else /run (root 0755 tmpfs), ...
 */
function makeChrootDir(uid: number, gid: number): string {
  const candidates = [os.tmpdir(), '/run', '/srv', '/var/lib']
  const base = candidates.find(candidate => {
    try {
      const real = fs.realpathSync(candidate)
      fs.accessSync(real, fs.constants.W_OK)
      return isSafeChrootPath(real)
    } catch {
      return false
    }
  })
  if (!base) {
    throw new Error(
      `sshd harness: no root-owned, non group/world-writable base directory for ChrootDirectory among ${candidates.join(', ')}`
    )
  }
  const chrootDir = fs.mkdtempSync(path.join(fs.realpathSync(base), 'sshd-harness-chroot-'))
  fs.chownSync(chrootDir, 0, 0)
  fs.chmodSync(chrootDir, 0o755)
  const upload = path.join(chrootDir, 'upload')
  fs.mkdirSync(upload, { mode: 0o755 })
  fs.chownSync(upload, uid, gid)
  fs.chmodSync(upload, 0o755)
  return chrootDir
}

function keywordOf(line: string): string {
  return (
    line
      .trim()
      .split(/[\s=]+/)[0]
      ?.toLowerCase() ?? ''
  )
}

interface ConfigInput {
  port: number
  hostKeys: HostKey[]
  pidFile: string
  authorizedKeys: string
  username: string
  chrootDir?: string
  extraConfig: string[]
}

function buildConfig(input: ConfigInput): string {
  const extra = input.extraConfig.map(line => line.replace(/\r?\n/g, ' '))
  const matchAt = extra.findIndex(line => keywordOf(line) === 'match')
  const extraGlobal = matchAt === -1 ? extra : extra.slice(0, matchAt)
  const extraMatch = matchAt === -1 ? [] : extra.slice(matchAt)
  const overridden = new Set<string>()
  for (const line of extraGlobal) {
    const keyword = keywordOf(line)
    if (keyword === '' || keyword.startsWith('#')) continue
    if (RESERVED_KEYWORDS.has(keyword)) {
      throw new Error(`sshd harness: extraConfig may not set ${keyword} (${line.trim()})`)
    }
    if (keyword === 'loglevel') {
      const level =
        line
          .trim()
          .split(/[\s=]+/)[1]
          ?.toLowerCase() ?? ''
      if (!DEBUG_LOG_LEVELS.has(level)) {
        throw new Error(`sshd harness: LogLevel below DEBUG1 breaks authAttempts(): ${line.trim()}`)
      }
    }
    overridden.add(keyword)
  }
  const defaults = [
    'LogLevel DEBUG1',
    'StrictModes no',
    'UsePAM no',
    'PermitRootLogin yes',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'Subsystem sftp internal-sftp'
  ].filter(line => !overridden.has(keywordOf(line)))
  const lines = [
    '# Generated by test/support/sshd.ts',
    `Port ${input.port}`,
    `ListenAddress ${HOST}`,
    'AddressFamily inet',
    ...input.hostKeys.map(key => `HostKey ${configPath(key.path)}`),
    `PidFile ${configPath(input.pidFile)}`,
    `AuthorizedKeysFile ${configPath(input.authorizedKeys)}`,
    ...extraGlobal,
    ...defaults
  ]
  if (input.chrootDir !== undefined) {
    lines.push(
      `Match User ${input.username}`,
      `  ChrootDirectory ${configPath(input.chrootDir)}`,
      '  ForceCommand internal-sftp',
      '  AllowTcpForwarding no'
    )
  }
  lines.push(...extraMatch)
  return `${lines.join('\n')}\n`
}

export { freeLoopbackPort, probeBanner }

/** Start a fresh sshd on a free 127.0.0.1 port. Resolves once it serves SSH banners. */
export async function startSshd(options: SshdOptions = {}): Promise<Sshd> {
  const sshdPath = requireSshd()
  const keygen = requireKeygen()
  const kinds = options.hostKeyTypes ?? ['ed25519', 'ecdsa', 'rsa']
  if (kinds.length === 0) throw new Error('sshd harness: hostKeyTypes must not be empty')
  if (new Set(kinds).size !== kinds.length) {
    throw new Error(`sshd harness: duplicate hostKeyTypes: ${kinds.join(', ')}`)
  }
  for (const kind of kinds) {
    if (!(kind in KEYGEN_ARGS)) throw new Error(`sshd harness: unknown host key type ${kind}`)
  }
  const user = os.userInfo()
  if (options.sftpOnlyChroot && user.uid !== 0) {
    throw new Error('sshd harness: sftpOnlyChroot needs root (sshd only chroots as root)')
  }
  ensurePrivsepDir()

  const dir = makeTempDir('sshd-harness-')
  let chrootDir: string | undefined
  let launched: Daemon | undefined
  const logFile = path.join(dir, 'sshd.log')
  try {
    const { hostKeys, clientKey } = await harnessKeys(keygen, dir, kinds, 'sshd-harness')
    const authorizedKeys = path.join(dir, 'authorized_keys')
    fs.writeFileSync(authorizedKeys, `${clientKey.publicLine}\n`, { mode: 0o600 })
    if (options.sftpOnlyChroot) chrootDir = makeChrootDir(user.uid, user.gid)

    const configFile = path.join(dir, 'sshd_config')
    const spawnAt = (port: number): Daemon => {
      const config = buildConfig({
        port,
        hostKeys,
        pidFile: path.join(dir, 'sshd.pid'),
        authorizedKeys,
        username: user.username,
        chrootDir,
        extraConfig: options.extraConfig ?? []
      })
      fs.writeFileSync(configFile, config, { mode: 0o600 })
      fs.rmSync(logFile, { force: true })
      launched = spawnDaemon(sshdPath, ['-D', '-E', logFile, '-f', configFile], logFile)
      return launched
    }
    const { daemon: running, port } = await startOnFreePort(
      'sshd',
      spawnAt,
      /Address already in use|Cannot bind any address/,
      port => `Server listening on ${HOST} port ${port}.`
    )
    let finalLog: string | undefined
    let stopping: Promise<void> | undefined
    const log = (): string => finalLog ?? running.log()
    return {
      host: HOST,
      port,
      username: user.username,
      hostKeys,
      clientKey,
      dir,
      ...(chrootDir !== undefined ? { chrootDir } : {}),
      log,
      authAttempts: () => countMatches(log(), USERAUTH_REQUEST_PATTERN),
      acceptedLogins: () => countMatches(log(), ACCEPTED_LOGIN_PATTERN),
      stop: () => {
        stopping ??= (async () => {
          await running.stop()
          finalLog = running.log()
          removeTempDir(dir)
          removeTempDir(chrootDir)
        })()
        return stopping
      }
    }
  } catch (error) {
    await launched?.stop()
    removeTempDir(dir)
    removeTempDir(chrootDir)
    throw error
  }
}
