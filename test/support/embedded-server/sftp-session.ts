import fs from 'node:fs'
import fsp from 'node:fs/promises'
import path from 'node:path'
import ssh2 from 'ssh2'
import { longName, toAttrs } from './attributes.js'
import type { ConnectionState, ServerState } from './connection.js'
import { denied, errnoOf, isWithin, SftpError, toStatus, virtualSegments } from './paths.js'

const READDIR_BATCH = 64
const HOSTILE_SIZE = 5

const { STATUS_CODE } = ssh2.utils.sftp

export interface FileHandle {
  kind: 'file'
  file: fsp.FileHandle
}

export interface DirHandle {
  kind: 'dir'
  local: string
  isRoot: boolean
  pending: string[]
  injected: boolean
}

export type Handle = FileHandle | DirHandle

/** Serves one SFTP channel. */
export class SftpSession {
  private readonly handles = new Map<number, Handle>()
  private nextHandle = 1
  private readonly closer = (): Promise<void> => this.closeAll()

  constructor(
    readonly sftp: ssh2.SFTPWrapper,
    readonly conn: ConnectionState,
    readonly server: ServerState,
    readonly clientIsOpenSSH: boolean
  ) {
    conn.closers.add(this.closer)
    sftp.on('end', () => {
      void this.closeAll()
      sftp.end()
    })
    sftp.on('error', () => undefined)
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
  serve(reqId: number, work: () => Promise<(() => void) | null>): void {
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

  ok(reqId: number): () => void {
    return () => this.sftp.status(reqId, STATUS_CODE.OK)
  }

  /** Client path → local path, refusing anything that leaves the root. */
  async local(clientPath: string, followLast: boolean): Promise<string> {
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
  virtual(clientPath: string): string {
    const segments = virtualSegments(clientPath)
    if (segments === undefined) throw denied(clientPath)
    return `/${segments.join('/')}`
  }

  handleBuffer(handle: Handle): Buffer {
    const id = this.nextHandle++
    this.handles.set(id, handle)
    const buf = Buffer.alloc(4)
    buf.writeUInt32BE(id)
    return buf
  }

  lookup(handle: Buffer): { id: number; handle: Handle } {
    const id = handle.length === 4 ? handle.readUInt32BE(0) : -1
    const found = this.handles.get(id)
    if (!found) throw new SftpError(STATUS_CODE.FAILURE, 'Invalid handle')
    return { id, handle: found }
  }

  file(handle: Buffer): FileHandle {
    const found = this.lookup(handle).handle
    if (found.kind !== 'file') throw new SftpError(STATUS_CODE.FAILURE, 'Not a file handle')
    return found
  }

  attrs(st: fs.Stats): ssh2.Attributes {
    return toAttrs(st, this.server.faults().sizeDelta)
  }

  async applyAttrs(
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

  async readdirBatch(dir: DirHandle): Promise<ssh2.FileEntry[]> {
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

  forget(id: number): void {
    this.handles.delete(id)
  }
}
