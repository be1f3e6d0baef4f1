/**
 * An in-process SFTP server for tests, built on ssh2's `Server` and backed by a real directory.
 *
 * It exists for two reasons:
 *  1. to prove the action works against an SFTP server that is not OpenSSH (different ident, no
 *     SFTP extensions, no '.'/'..' in listings, password as well as public-key authentication);
 *  2. fault injection: dropped connections, stalled requests, lying sizes, hostile file names,
 *     refused channels and a server that never says hello (see {@link Faults}).
 *
 * Only ever listens on 127.0.0.1 (port 0). Test code only, never shipped.
 *
 * Path handling: the served directory is the client's '/', and the client's working directory is
 * '/' as well, so '/x' and 'x' are the same file. A client path whose '..' components would climb
 * above the root is refused with PERMISSION_DENIED, and so is any path that resolves (through
 * symlinks, dangling ones included) to somewhere outside the root.
 */
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import ssh2 from 'ssh2'
import { runChecked } from './run.js'
import { makeTempDir, removeTempDir } from './tmp.js'

export interface Faults {
  /**
   * Destroy the TCP connection once more than this many file-data bytes would have been written
   * (WRITE) or read (READ), counted per connection, reads and writes together. The request that
   * would cross the limit triggers the drop: a WRITE first persists the bytes up to the limit (so
   * a sequential upload leaves exactly this many bytes on disk), a READ sends nothing. Neither is
   * answered. 0 drops on the first data byte.
   */
  dropAfterBytes?: number
  /**
   * Like dropAfterBytes, but instead of dropping the connection the server stops answering every
   * SFTP request on that connection from then on (the crossing request included). The TCP and SSH
   * layers stay alive; other connections are unaffected.
   */
  stallAfterBytes?: number
  /** Report sizes of regular files in STAT/LSTAT/FSTAT/READDIR attrs as real size + this delta (clamped at 0). */
  sizeDelta?: number
  /**
   * Extra names injected into the first READDIR reply of every listing of the root dir, e.g.
   * '../../evil', 'a/b', '..', '.', 'x\\y', '/etc/passwd'. Each is listed as a regular file of 5
   * bytes (mode 0644); nothing backs it on disk.
   */
  hostileNames?: string[]
  /**
   * Refuse a session channel open while this many session channels are already open on the
   * connection (like OpenSSH's MaxSessions; closing one frees a slot). 0 refuses every session.
   */
  maxChannels?: number
  /** Accept new TCP connections but never send the SSH banner (nor anything else). */
  silent?: boolean
  /**
   * Log in and open session channels as usual, but never answer the SFTP subsystem request
   * (neither accept nor refuse it), as a server whose sftp-server hangs would. SSH itself,
   * keepalives included, keeps answering.
   */
  silentSftp?: boolean
  /**
   * Once a client has logged in, re-key after this many milliseconds presenting `presentKey`
   * (a public key line of the same type), as a man in the middle taking over a live session would.
   * The signature is still made with the server's own key.
   */
  rekeySwap?: { afterMs: number; presentKey: string }
  /**
   * Answer every new connection with the SSH banner and then, before key exchange (so before
   * any host key is shown), a DISCONNECT (protocol error) carrying this text, then close.
   */
  disconnect?: string
  /** Send this text in every failure STATUS reply instead of the usual message. */
  statusMessage?: string
}

export type EmbeddedHostKeyType = 'ed25519' | 'ecdsa' | 'rsa'

export interface EmbeddedServerOptions {
  /** Directory to serve. Default: a fresh temp dir, removed by stop(). A given dir is left alone. */
  root?: string
  /** The only user name accepted. Default 'tester'. */
  username?: string
  /** Enables password authentication with this password when set. */
  password?: string
  /**
   * Offers keyboard-interactive only (no password method): one round with these prompts,
   * accepted when the first answer is `password`. Answers received: keyboardAnswers().
   */
  keyboardPrompts?: ssh2.Prompt[]
  /** OpenSSH public key line ('ssh-ed25519 AAAA... comment') accepted for publickey auth. */
  authorizedKey?: string
  /** Host key algorithm; a fresh key is generated with ssh-keygen. Default 'ed25519'. */
  hostKeyType?: EmbeddedHostKeyType
  /**
   * Software part of the server ident (sent as 'SSH-2.0-' + ident). Default 'EmbeddedSftp_1.0',
   * which clients do not take for OpenSSH. An ident starting with 'OpenSSH' makes the server also
   * read SYMLINK arguments in OpenSSH's (swapped) order, as clients will send them that way.
   */
  ident?: string
  /** Initial faults (see setFaults). Default: none. */
  faults?: Faults
  /**
   * Impostor mode: present this public host key line (someone else's, same type) while signing
   * with the server's own key, as an attacker who copied a public key would. A client that checks
   * the key-exchange signature must refuse.
   */
  presentKey?: string
}

export interface EmbeddedHostKey {
  /** Key type as in the .pub file: 'ssh-ed25519', 'ecdsa-sha2-nistp256' or 'ssh-rsa'. */
  type: string
  /** Contents of the .pub file (type, base64 blob, comment). */
  publicLine: string
  /** The decoded public key blob. */
  blob: Buffer
  /** 'SHA256:' + unpadded base64 of sha256(blob), as printed by `ssh-keygen -lf`. */
  sha256: string
}

export interface EmbeddedServer {
  host: '127.0.0.1'
  port: number
  /** The served directory (real path, symlinks resolved). */
  root: string
  username: string
  hostKey: EmbeddedHostKey
  /** Authentication requests received so far, over all connections (any method, 'none' included). */
  authAttempts(): number
  /** TCP connections accepted so far (silent ones included). */
  connections(): number
  /** Every keyboard-interactive answer set a client sent (with keyboardPrompts). */
  keyboardAnswers(): string[][]
  /** How often dropAfterBytes and stallAfterBytes have fired so far. */
  faultsTriggered(): { drops: number; stalls: number }
  /**
   * Replace the whole fault set. Applies to new connections and to later requests on existing
   * ones; per-connection byte counters keep running (they are not reset).
   */
  setFaults(faults: Faults): void
  /** Stop listening, destroy every connection, close open files, remove temp dirs. Idempotent. */
  stop(): Promise<void>
}

const HOST = '127.0.0.1'
const DEFAULT_IDENT = 'EmbeddedSftp_1.0'
const MAX_READ_LENGTH = 64 * 1024
const READDIR_BATCH = 64
const HOSTILE_SIZE = 5
/** Same pattern ssh2 uses to decide that a peer has OpenSSH's SFTP quirks. */
const OPENSSH_IDENT = /^SSH-2\.0-(?:OpenSSH|dropbear)/

const { STATUS_CODE, OPEN_MODE } = ssh2.utils.sftp

const KEYGEN_ARGS: Record<EmbeddedHostKeyType, string[]> = {
  ed25519: ['-t', 'ed25519'],
  ecdsa: ['-t', 'ecdsa', '-b', '256', '-m', 'PEM'],
  rsa: ['-t', 'rsa', '-b', '3072', '-m', 'PEM']
}

/** An error that maps to a specific SFTP status code. */
class SftpError extends Error {
  constructor(
    readonly code: number,
    message: string
  ) {
    super(message)
  }
}

const denied = (p: string): SftpError =>
  new SftpError(STATUS_CODE.PERMISSION_DENIED, `path escapes the served root: ${p}`)

function errnoOf(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error
    ? String((error as { code: unknown }).code)
    : undefined
}

/** ENOENT → NO_SUCH_FILE, EACCES/EPERM → PERMISSION_DENIED, anything else → FAILURE. */
function toStatus(error: unknown): { code: number; message: string } {
  if (error instanceof SftpError) return { code: error.code, message: error.message }
  const errno = errnoOf(error)
  switch (errno) {
    case 'ENOENT':
      return { code: STATUS_CODE.NO_SUCH_FILE, message: 'No such file' }
    case 'EACCES':
    case 'EPERM':
      return { code: STATUS_CODE.PERMISSION_DENIED, message: 'Permission denied' }
    default:
      return { code: STATUS_CODE.FAILURE, message: errno ? `Failure (${errno})` : 'Failure' }
  }
}

/** Client path → segments below the root; undefined when '..' would climb above the root. */
function virtualSegments(clientPath: string): string[] | undefined {
  const out: string[] = []
  for (const segment of clientPath.split('/')) {
    if (segment === '' || segment === '.') continue
    if (segment === '..') {
      if (out.length === 0) return undefined
      out.pop()
      continue
    }
    out.push(segment)
  }
  return out
}

function isWithin(root: string, candidate: string): boolean {
  return candidate === root || candidate.startsWith(root.endsWith('/') ? root : `${root}/`)
}

function sha256Fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`
}

/**
 * A host key that signs as itself but shows its own public key until `swapped`, then `publicLine`
 * (see presentKey and rekeySwap).
 */
function swappableKey(
  privateKey: string,
  publicLine: string
): ssh2.ParsedKey & { swapped: boolean } {
  const parsed = ssh2.utils.parseKey(privateKey)
  if (parsed instanceof Error || Array.isArray(parsed)) throw new Error('embedded server: bad key')
  const own = parsed.getPublicSSH()
  const shown = Buffer.from(publicLine.trim().split(/\s+/)[1] ?? '', 'base64')
  return Object.assign(parsed, {
    swapped: false,
    getPublicSSH(this: { swapped: boolean }) {
      return this.swapped ? shown : own
    }
  })
}

async function generateHostKey(
  dir: string,
  kind: EmbeddedHostKeyType
): Promise<{ privateKey: string; hostKey: EmbeddedHostKey }> {
  if (!(kind in KEYGEN_ARGS)) throw new Error(`embedded server: unknown host key type ${kind}`)
  const file = path.join(dir, `host_${kind}_key`)
  const keygen = fs.existsSync('/usr/bin/ssh-keygen') ? '/usr/bin/ssh-keygen' : 'ssh-keygen'
  await runChecked(keygen, [
    '-q',
    ...KEYGEN_ARGS[kind],
    '-N',
    '',
    '-C',
    `embedded-sftp-${kind}`,
    '-f',
    file
  ])
  const publicLine = fs.readFileSync(`${file}.pub`, 'utf8').trim()
  const [type, base64] = publicLine.split(/\s+/)
  if (!type || !base64) throw new Error(`embedded server: malformed ${file}.pub`)
  const blob = Buffer.from(base64, 'base64')
  return {
    privateKey: fs.readFileSync(file, 'utf8'),
    hostKey: { type, publicLine, blob, sha256: sha256Fingerprint(blob) }
  }
}

function parsePublicKey(line: string): ssh2.ParsedKey {
  const parsed = ssh2.utils.parseKey(line)
  const key = Array.isArray(parsed) ? parsed[0] : parsed
  if (key === undefined || key instanceof Error) {
    throw new Error(
      `embedded server: cannot parse authorizedKey: ${key instanceof Error ? key.message : 'empty'}`
    )
  }
  return key
}

// ---------------------------------------------------------------------------------------------
// Attributes and long names

function reportedSize(st: fs.Stats, sizeDelta: number | undefined): number {
  if (!st.isFile() || !sizeDelta) return st.size
  return Math.max(0, st.size + sizeDelta)
}

function toAttrs(st: fs.Stats, sizeDelta: number | undefined): ssh2.Attributes {
  return {
    mode: st.mode,
    uid: st.uid,
    gid: st.gid,
    size: reportedSize(st, sizeDelta),
    atime: Math.floor(st.atimeMs / 1000),
    mtime: Math.floor(st.mtimeMs / 1000)
  }
}

function modeString(mode: number): string {
  const fmt = mode & fs.constants.S_IFMT
  const type =
    fmt === fs.constants.S_IFDIR
      ? 'd'
      : fmt === fs.constants.S_IFLNK
        ? 'l'
        : fmt === fs.constants.S_IFREG
          ? '-'
          : fmt === fs.constants.S_IFIFO
            ? 'p'
            : fmt === fs.constants.S_IFSOCK
              ? 's'
              : fmt === fs.constants.S_IFCHR
                ? 'c'
                : fmt === fs.constants.S_IFBLK
                  ? 'b'
                  : '?'
  let perms = ''
  for (const shift of [6, 3, 0]) {
    const bits = (mode >> shift) & 7
    perms += bits & 4 ? 'r' : '-'
    perms += bits & 2 ? 'w' : '-'
    perms += bits & 1 ? 'x' : '-'
  }
  return type + perms
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

/** An `ls -l` style line, like OpenSSH's (numeric owner and group). */
function longName(name: string, attrs: ssh2.Attributes, nlink: number): string {
  const date = new Date(attrs.mtime * 1000)
  const day = String(date.getUTCDate()).padStart(2, ' ')
  const time = `${String(date.getUTCHours()).padStart(2, '0')}:${String(date.getUTCMinutes()).padStart(2, '0')}`
  return [
    modeString(attrs.mode),
    String(nlink).padStart(4, ' '),
    String(attrs.uid).padEnd(8, ' '),
    String(attrs.gid).padEnd(8, ' '),
    String(attrs.size).padStart(8, ' '),
    `${MONTHS[date.getUTCMonth()]} ${day} ${time}`,
    name
  ].join(' ')
}

function openFlags(flags: number): number {
  const c = fs.constants
  const read = (flags & OPEN_MODE.READ) !== 0
  const write = (flags & OPEN_MODE.WRITE) !== 0
  let result = read && write ? c.O_RDWR : write ? c.O_WRONLY : c.O_RDONLY
  if (flags & OPEN_MODE.CREAT) result |= c.O_CREAT
  if (flags & OPEN_MODE.TRUNC) result |= c.O_TRUNC
  if (flags & OPEN_MODE.EXCL) result |= c.O_EXCL
  if (flags & OPEN_MODE.APPEND) result |= c.O_APPEND
  return result
}

// ---------------------------------------------------------------------------------------------
// Per-connection state

type FaultKind = 'drop' | 'stall'

interface ServerState {
  root: string
  username: string
  password?: string
  authorizedKey?: ssh2.ParsedKey
  /** We claim to be OpenSSH (ident), so clients send SYMLINK in OpenSSH's order. */
  claimsOpenSSH: boolean
  faults: () => Faults
  onFault: (kind: FaultKind) => void
}

class ConnectionState {
  /** File-data bytes moved so far (reads and writes). */
  bytes = 0
  /** A drop or stall fired: no SFTP request on this connection is answered any more. */
  halted = false
  sessions = 0
  readonly closers = new Set<() => Promise<void>>()

  constructor(
    readonly socket: net.Socket,
    private readonly server: ServerState
  ) {}

  /**
   * Account for n data bytes. Returns how many may go through; `fault` is set (and the connection
   * halted) when the request crosses a drop/stall limit.
   */
  take(n: number): { allowed: number; fault?: FaultKind } {
    const faults = this.server.faults()
    let limit = Infinity
    let kind: FaultKind | undefined
    if (faults.dropAfterBytes !== undefined) {
      limit = faults.dropAfterBytes
      kind = 'drop'
    }
    if (faults.stallAfterBytes !== undefined && faults.stallAfterBytes < limit) {
      limit = faults.stallAfterBytes
      kind = 'stall'
    }
    const remaining = Math.max(0, limit - this.bytes)
    if (kind === undefined || n <= remaining) {
      this.bytes += n
      return { allowed: n }
    }
    this.bytes += remaining
    this.halted = true
    return { allowed: remaining, fault: kind }
  }

  fire(kind: FaultKind): void {
    this.server.onFault(kind)
    if (kind === 'drop') this.socket.destroy()
  }
}

interface FileHandle {
  kind: 'file'
  file: fsp.FileHandle
}

interface DirHandle {
  kind: 'dir'
  local: string
  isRoot: boolean
  pending: string[]
  injected: boolean
}

type Handle = FileHandle | DirHandle

/** Serves one SFTP channel. */
class SftpSession {
  private readonly handles = new Map<number, Handle>()
  private nextHandle = 1
  private readonly closer = (): Promise<void> => this.closeAll()

  constructor(
    private readonly sftp: ssh2.SFTPWrapper,
    private readonly conn: ConnectionState,
    private readonly server: ServerState,
    private readonly clientIsOpenSSH: boolean
  ) {
    conn.closers.add(this.closer)
    sftp.on('end', () => {
      void this.closeAll()
      sftp.end()
    })
    sftp.on('error', () => undefined)
    this.register()
  }

  private async closeAll(): Promise<void> {
    this.conn.closers.delete(this.closer)
    const handles = [...this.handles.values()]
    this.handles.clear()
    await Promise.all(
      handles.map(h => (h.kind === 'file' ? h.file.close().catch(() => undefined) : undefined))
    )
  }

  /**
   * Run one request. `work` returns the reply to send, or null for "never answer" (a fault fired).
   * Nothing is sent once the connection is halted.
   */
  private serve(reqId: number, work: () => Promise<(() => void) | null>): void {
    if (this.conn.halted) return
    const send = (reply: () => void): void => {
      if (this.conn.halted) return
      try {
        reply()
      } catch {
        // channel already gone
      }
    }
    work().then(
      reply => {
        if (reply) send(reply)
      },
      (error: unknown) => {
        const { code, message } = toStatus(error)
        const text = this.server.faults().statusMessage ?? message
        send(() => this.sftp.status(reqId, code, text))
      }
    )
  }

  private ok(reqId: number): () => void {
    return () => this.sftp.status(reqId, STATUS_CODE.OK)
  }

  /** Client path → local path, refusing anything that leaves the root. */
  private async local(clientPath: string, followLast: boolean): Promise<string> {
    const segments = virtualSegments(clientPath)
    if (segments === undefined) throw denied(clientPath)
    const root = this.server.root
    const local = segments.length === 0 ? root : path.join(root, ...segments)
    if (local === root) return local
    let probe = followLast ? local : path.dirname(local)
    for (;;) {
      try {
        const real = await fsp.realpath(probe)
        if (!isWithin(root, real)) throw denied(clientPath)
        return local
      } catch (error) {
        if (error instanceof SftpError) throw error
        if (errnoOf(error) !== 'ENOENT' && errnoOf(error) !== 'ENOTDIR') throw error
        // Missing: fine, unless it is a dangling symlink (which could point anywhere).
        const isLink = await fsp.lstat(probe).then(
          st => st.isSymbolicLink(),
          () => false
        )
        if (isLink) throw denied(clientPath)
        if (probe === root) return local
        probe = path.dirname(probe)
      }
    }
  }

  /** Client path → normalized absolute client path ('/a/b'). */
  private virtual(clientPath: string): string {
    const segments = virtualSegments(clientPath)
    if (segments === undefined) throw denied(clientPath)
    return `/${segments.join('/')}`
  }

  private handleBuffer(handle: Handle): Buffer {
    const id = this.nextHandle++
    this.handles.set(id, handle)
    const buf = Buffer.alloc(4)
    buf.writeUInt32BE(id)
    return buf
  }

  private lookup(handle: Buffer): { id: number; handle: Handle } {
    const id = handle.length === 4 ? handle.readUInt32BE(0) : -1
    const found = this.handles.get(id)
    if (!found) throw new SftpError(STATUS_CODE.FAILURE, 'Invalid handle')
    return { id, handle: found }
  }

  private file(handle: Buffer): FileHandle {
    const found = this.lookup(handle).handle
    if (found.kind !== 'file') throw new SftpError(STATUS_CODE.FAILURE, 'Not a file handle')
    return found
  }

  private attrs(st: fs.Stats): ssh2.Attributes {
    return toAttrs(st, this.server.faults().sizeDelta)
  }

  private async applyAttrs(
    attrs: Partial<ssh2.Attributes> | undefined,
    target: { file: fsp.FileHandle } | { local: string }
  ): Promise<void> {
    if (!attrs) return
    const file = 'file' in target ? target.file : undefined
    const local = 'local' in target ? target.local : undefined
    if (typeof attrs.size === 'number') {
      if (file) await file.truncate(attrs.size)
      else if (local) await fsp.truncate(local, attrs.size)
    }
    if (typeof attrs.mode === 'number') {
      const mode = attrs.mode & 0o7777
      if (file) await file.chmod(mode)
      else if (local) await fsp.chmod(local, mode)
    }
    if (typeof attrs.atime === 'number' && typeof attrs.mtime === 'number') {
      if (file) await file.utimes(attrs.atime, attrs.mtime)
      else if (local) await fsp.utimes(local, attrs.atime, attrs.mtime)
    }
  }

  private async readdirBatch(dir: DirHandle): Promise<ssh2.FileEntry[]> {
    const entries: ssh2.FileEntry[] = []
    const hostile = this.server.faults().hostileNames ?? []
    if (dir.isRoot && !dir.injected) {
      dir.injected = true
      const now = Math.floor(Date.now() / 1000)
      for (const name of hostile) {
        const attrs: ssh2.Attributes = {
          mode: fs.constants.S_IFREG | 0o644,
          uid: 0,
          gid: 0,
          size: HOSTILE_SIZE,
          atime: now,
          mtime: now
        }
        entries.push({ filename: name, longname: longName(name, attrs, 1), attrs })
      }
    }
    while (entries.length < READDIR_BATCH && dir.pending.length > 0) {
      const name = dir.pending.shift() as string
      let st: fs.Stats
      try {
        st = await fsp.lstat(path.join(dir.local, name))
      } catch {
        continue // vanished since OPENDIR
      }
      const attrs = this.attrs(st)
      entries.push({ filename: name, longname: longName(name, attrs, st.nlink), attrs })
    }
    return entries
  }

  private register(): void {
    const sftp = this.sftp

    sftp.on('OPEN', (reqId: number, filename: string, flags: number, attrs: ssh2.Attributes) =>
      this.serve(reqId, async () => {
        const local = await this.local(filename, true)
        const mode = typeof attrs?.mode === 'number' ? attrs.mode & 0o7777 : 0o666
        const file = await fsp.open(local, openFlags(flags), mode)
        const handle = this.handleBuffer({ kind: 'file', file })
        return () => sftp.handle(reqId, handle)
      })
    )

    sftp.on('READ', (reqId: number, handle: Buffer, offset: number, length: number) =>
      this.serve(reqId, async () => {
        const { file } = this.file(handle)
        const buf = Buffer.alloc(Math.min(length, MAX_READ_LENGTH))
        const { bytesRead } = await file.read(buf, 0, buf.length, offset)
        if (bytesRead === 0) return () => sftp.status(reqId, STATUS_CODE.EOF)
        if (this.conn.halted) return null
        const { fault } = this.conn.take(bytesRead)
        if (fault) {
          this.conn.fire(fault)
          return null
        }
        return () => sftp.data(reqId, buf.subarray(0, bytesRead))
      })
    )

    sftp.on('WRITE', (reqId: number, handle: Buffer, offset: number, data: Buffer) =>
      this.serve(reqId, async () => {
        const { file } = this.file(handle)
        // Accounted synchronously, in arrival order.
        const { allowed, fault } = this.conn.take(data.length)
        try {
          if (allowed > 0) await file.write(data, 0, allowed, offset)
        } finally {
          if (fault) this.conn.fire(fault)
        }
        return fault ? null : this.ok(reqId)
      })
    )

    sftp.on('CLOSE', (reqId: number, handle: Buffer) =>
      this.serve(reqId, async () => {
        const { id, handle: found } = this.lookup(handle)
        this.handles.delete(id)
        if (found.kind === 'file') await found.file.close()
        return this.ok(reqId)
      })
    )

    sftp.on('FSTAT', (reqId: number, handle: Buffer) =>
      this.serve(reqId, async () => {
        const found = this.lookup(handle).handle
        const st = found.kind === 'file' ? await found.file.stat() : await fsp.stat(found.local)
        const attrs = this.attrs(st)
        return () => sftp.attrs(reqId, attrs)
      })
    )

    sftp.on('FSETSTAT', (reqId: number, handle: Buffer, attrs: ssh2.Attributes) =>
      this.serve(reqId, async () => {
        const found = this.lookup(handle).handle
        await this.applyAttrs(
          attrs,
          found.kind === 'file' ? { file: found.file } : { local: found.local }
        )
        return this.ok(reqId)
      })
    )

    for (const [event, follow] of [
      ['STAT', true],
      ['LSTAT', false]
    ] as const) {
      sftp.on(event, (reqId: number, p: string) =>
        this.serve(reqId, async () => {
          const local = await this.local(p, follow)
          const st = follow ? await fsp.stat(local) : await fsp.lstat(local)
          const attrs = this.attrs(st)
          return () => sftp.attrs(reqId, attrs)
        })
      )
    }

    sftp.on('SETSTAT', (reqId: number, p: string, attrs: ssh2.Attributes) =>
      this.serve(reqId, async () => {
        const local = await this.local(p, true)
        await fsp.stat(local)
        await this.applyAttrs(attrs, { local })
        return this.ok(reqId)
      })
    )

    sftp.on('OPENDIR', (reqId: number, p: string) =>
      this.serve(reqId, async () => {
        const local = await this.local(p, true)
        const st = await fsp.stat(local)
        if (!st.isDirectory()) throw new SftpError(STATUS_CODE.FAILURE, 'Not a directory')
        const names = (await fsp.readdir(local)).sort()
        const handle = this.handleBuffer({
          kind: 'dir',
          local,
          isRoot: local === this.server.root,
          pending: names,
          injected: false
        })
        return () => sftp.handle(reqId, handle)
      })
    )

    sftp.on('READDIR', (reqId: number, handle: Buffer) =>
      this.serve(reqId, async () => {
        const found = this.lookup(handle).handle
        if (found.kind !== 'dir') throw new SftpError(STATUS_CODE.FAILURE, 'Not a directory handle')
        const entries = await this.readdirBatch(found)
        if (entries.length === 0) return () => sftp.status(reqId, STATUS_CODE.EOF)
        return () => sftp.name(reqId, entries)
      })
    )

    sftp.on('MKDIR', (reqId: number, p: string, attrs: ssh2.Attributes) =>
      this.serve(reqId, async () => {
        const local = await this.local(p, false)
        const mode = typeof attrs?.mode === 'number' ? attrs.mode & 0o7777 : 0o777
        await fsp.mkdir(local, { mode })
        return this.ok(reqId)
      })
    )

    sftp.on('RMDIR', (reqId: number, p: string) =>
      this.serve(reqId, async () => {
        const local = await this.local(p, false)
        if (local === this.server.root) throw denied(p)
        await fsp.rmdir(local)
        return this.ok(reqId)
      })
    )

    sftp.on('REMOVE', (reqId: number, p: string) =>
      this.serve(reqId, async () => {
        const local = await this.local(p, false)
        if (local === this.server.root) throw denied(p)
        await fsp.unlink(local)
        return this.ok(reqId)
      })
    )

    sftp.on('RENAME', (reqId: number, oldPath: string, newPath: string) =>
      this.serve(reqId, async () => {
        const from = await this.local(oldPath, false)
        const to = await this.local(newPath, false)
        if (from === this.server.root || to === this.server.root) throw denied(oldPath)
        await fsp.lstat(from)
        const targetExists = await fsp.lstat(to).then(
          () => true,
          () => false
        )
        // Plain SFTP rename never replaces (OpenSSH's behaviour without posix-rename).
        if (targetExists) throw new SftpError(STATUS_CODE.FAILURE, 'Target exists')
        await fsp.rename(from, to)
        return this.ok(reqId)
      })
    )

    sftp.on('REALPATH', (reqId: number, p: string) =>
      this.serve(reqId, async () => {
        const resolved = this.virtual(p)
        return () =>
          sftp.name(reqId, [{ filename: resolved, longname: resolved } as ssh2.FileEntry])
      })
    )

    sftp.on('READLINK', (reqId: number, p: string) =>
      this.serve(reqId, async () => {
        const local = await this.local(p, false)
        let target = await fsp.readlink(local)
        const root = this.server.root
        if (target === root) target = '/'
        else if (target.startsWith(`${root}/`)) target = target.slice(root.length)
        return () => sftp.name(reqId, [{ filename: target, longname: target } as ssh2.FileEntry])
      })
    )

    // ssh2 hands us (linkPath, targetPath) after undoing the swap it expects from OpenSSH
    // clients. Recover the wire order, then read it the way the server we claim to be would:
    // OpenSSH's (targetpath first) when our ident says OpenSSH, the draft's (linkpath first) else.
    sftp.on('SYMLINK', (reqId: number, first: string, second: string) =>
      this.serve(reqId, async () => {
        const [wire1, wire2] = this.clientIsOpenSSH ? [second, first] : [first, second]
        const [linkPath, targetPath] = this.server.claimsOpenSSH ? [wire2, wire1] : [wire1, wire2]
        const linkLocal = await this.local(linkPath, false)
        let stored: string
        if (targetPath.startsWith('/')) {
          const segments = virtualSegments(targetPath)
          if (segments === undefined) throw denied(targetPath)
          stored = path.join(this.server.root, ...segments)
        } else {
          const linkDir = path.posix.dirname(this.virtual(linkPath))
          if (virtualSegments(`${linkDir}/${targetPath}`) === undefined) throw denied(targetPath)
          stored = targetPath
        }
        await fsp.symlink(stored, linkLocal)
        return this.ok(reqId)
      })
    )
  }
}

// ---------------------------------------------------------------------------------------------

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen({ port: 0, host: HOST, exclusive: true }, () => {
      server.off('error', reject)
      const address = server.address()
      if (typeof address === 'object' && address !== null) resolve(address.port)
      else reject(new Error('embedded server: no port assigned'))
    })
  })
}

/**
 * SSH_MSG_DISCONNECT (reason 2, protocol error) as an unencrypted binary packet, as a server
 * sends it before key exchange (RFC 4253 section 6: 8-byte blocks, at least 4 bytes of padding).
 */
function disconnectPacket(text: string): Buffer {
  const description = Buffer.from(text)
  const payload = Buffer.alloc(1 + 4 + 4 + description.length + 4)
  payload[0] = 1
  payload.writeUInt32BE(2, 1)
  payload.writeUInt32BE(description.length, 5)
  description.copy(payload, 9)
  payload.writeUInt32BE(0, 9 + description.length)
  let padding = 8 - ((4 + 1 + payload.length) % 8)
  if (padding < 4) padding += 8
  const head = Buffer.alloc(5)
  head.writeUInt32BE(1 + payload.length + padding, 0)
  head[4] = padding
  return Buffer.concat([head, payload, Buffer.alloc(padding)])
}

/** Start an embedded SFTP server on 127.0.0.1 (random port). */
export async function startEmbeddedServer(
  options: EmbeddedServerOptions = {}
): Promise<EmbeddedServer> {
  const keyDir = makeTempDir('embedded-sftp-keys-')
  const ownsRoot = options.root === undefined
  const rootDir = options.root ?? makeTempDir('embedded-sftp-root-')
  const cleanupDirs = (): void => {
    removeTempDir(keyDir)
    if (ownsRoot) removeTempDir(rootDir)
  }
  try {
    const root = fs.realpathSync(rootDir)
    if (!fs.statSync(root).isDirectory()) throw new Error(`embedded server: ${root} is no dir`)
    const username = options.username ?? 'tester'
    const ident = options.ident ?? DEFAULT_IDENT
    const { privateKey, hostKey } = await generateHostKey(keyDir, options.hostKeyType ?? 'ed25519')
    // ssh2 takes a parsed key object as { key }, and uses it as it is.
    const serverKey = options.presentKey
      ? { key: Object.assign(swappableKey(privateKey, options.presentKey), { swapped: true }) }
      : privateKey
    const authorizedKey =
      options.authorizedKey !== undefined ? parsePublicKey(options.authorizedKey) : undefined
    const methods: ssh2.AuthenticationType[] = []
    const keyboardPrompts = options.keyboardPrompts
    if (options.password !== undefined && !keyboardPrompts) methods.push('password')
    if (authorizedKey) methods.push('publickey')
    if (keyboardPrompts) methods.push('keyboard-interactive')
    const keyboardAnswers: string[][] = []

    let faults: Faults = { ...options.faults }
    let authAttempts = 0
    let connections = 0
    const triggered = { drops: 0, stalls: 0 }
    const state: ServerState = {
      root,
      username,
      password: options.password,
      authorizedKey,
      claimsOpenSSH: OPENSSH_IDENT.test(`SSH-2.0-${ident}`),
      faults: () => faults,
      onFault: kind => {
        if (kind === 'drop') triggered.drops++
        else triggered.stalls++
      }
    }
    const live = new Set<ConnectionState>()

    const onAuthentication = (ctx: ssh2.AuthContext): void => {
      authAttempts++
      if (ctx.username !== username) return ctx.reject(methods)
      if (ctx.method === 'keyboard-interactive' && keyboardPrompts) {
        return ctx.prompt(keyboardPrompts, answers => {
          keyboardAnswers.push(answers)
          if (answers[0] === options.password) ctx.accept()
          else ctx.reject(methods)
        })
      }
      if (ctx.method === 'password') {
        if (
          options.password !== undefined &&
          !keyboardPrompts &&
          ctx.password === options.password
        ) {
          return ctx.accept()
        }
      } else if (ctx.method === 'publickey' && authorizedKey) {
        if (ctx.key.data.equals(authorizedKey.getPublicSSH())) {
          // Without a signature the client only asks whether the key would do (PK_OK).
          if (!ctx.signature) return ctx.accept()
          if (ctx.blob && authorizedKey.verify(ctx.blob, ctx.signature, ctx.hashAlgo)) {
            return ctx.accept()
          }
        }
      }
      ctx.reject(methods)
    }

    const onSsh = (conn: ConnectionState, client: ssh2.Connection, info: ssh2.ClientInfo): void => {
      const clientIsOpenSSH = OPENSSH_IDENT.test(info.header.identRaw)
      client.on('error', () => undefined)
      client.on('authentication', onAuthentication)
      client.on('session', (accept, reject) => {
        const max = faults.maxChannels
        if (max !== undefined && conn.sessions >= max) return reject()
        const session = accept()
        conn.sessions++
        session.once('close', () => conn.sessions--)
        session.on('sftp', acceptSftp => {
          if (faults.silentSftp) return
          new SftpSession(acceptSftp(), conn, state, clientIsOpenSSH)
        })
      })
    }

    const tcp = net.createServer(socket => {
      connections++
      const conn = new ConnectionState(socket, state)
      live.add(conn)
      socket.setNoDelay(true)
      socket.on('error', () => undefined)
      socket.once('close', () => {
        live.delete(conn)
        for (const close of [...conn.closers]) void close()
      })
      if (faults.silent) return
      if (faults.disconnect !== undefined) {
        socket.end(
          Buffer.concat([Buffer.from(`SSH-2.0-${ident}\r\n`), disconnectPacket(faults.disconnect)])
        )
        return
      }
      // One ssh2 Server per connection, so the handlers can close over the connection's state.
      const swap = faults.rekeySwap
      const swappable = swap ? swappableKey(privateKey, swap.presentKey) : undefined
      const hostKey = swappable ? { key: swappable } : serverKey
      const ssh = new ssh2.Server({ hostKeys: [hostKey], ident }, (client, info) => {
        onSsh(conn, client, info)
        if (swap && swappable) {
          client.once('ready', () =>
            setTimeout(() => {
              swappable.swapped = true
              client.rekey()
            }, swap.afterMs)
          )
        }
      })
      ssh.injectSocket(socket)
    })
    const port = await listen(tcp)

    let stopping: Promise<void> | undefined
    return {
      host: HOST,
      port,
      root,
      username,
      hostKey,
      authAttempts: () => authAttempts,
      connections: () => connections,
      keyboardAnswers: () => keyboardAnswers.map(a => [...a]),
      faultsTriggered: () => ({ ...triggered }),
      setFaults: next => {
        faults = { ...next }
      },
      stop: () => {
        stopping ??= (async () => {
          const closed = new Promise<void>(resolve => tcp.close(() => resolve()))
          const closers: Promise<void>[] = []
          for (const conn of live) {
            conn.socket.destroy()
            for (const close of conn.closers) closers.push(close())
          }
          await Promise.all([closed, ...closers])
          cleanupDirs()
        })()
        return stopping
      }
    }
  } catch (error) {
    cleanupDirs()
    throw error
  }
}
