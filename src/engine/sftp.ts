import type ssh2 from 'ssh2'
import { folderBudget } from '../plans/listing-limits.js'
import { hasWriteHeadroom } from './buffer-pool.js'
import { TrackedSftp, type SftpError } from './sftp-tracked.js'
import { SFTP_STATUS, toEntry, toStat, type RemoteEntry, type RemoteStat } from './sftp-stat.js'
import { readWholeInOrder } from './whole-read.js'

export { SFTP_STATUS, type RemoteEntry, type RemoteStat } from './sftp-stat.js'
export type { SftpError } from './sftp-tracked.js'

/** Bytes per request when the server does not say (ssh2's own floor for unknown servers). */
const FALLBACK_CHUNK = 32 * 1024

/** Open files per channel when the server does not say (no `limits@openssh.com`). */
export const FALLBACK_OPEN_HANDLES = 64

/** Never more per channel than this, whatever a server offers: memory and fairness. */
const MAX_OPEN_HANDLES = 1024

/** READDIR requests kept in flight on one folder handle, where the server answers in order. */
const READDIRS_AHEAD = 4

/** One SFTP channel with promise-returning calls, each tracked as TrackedSftp says. */
export class SftpChannel extends TrackedSftp {
  private posixRename?: boolean

  /** Read live: the bundle's ssh2 learns the server's limits after the channel is ready. */
  get maxReadLen(): number {
    return limit(this.sftp, '_maxReadLen')
  }

  get maxWriteLen(): number {
    return limit(this.sftp, '_maxWriteLen')
  }

  /**
   * OpenSSH's sftp-server answers requests strictly in the order they arrive, so a write, an
   * fstat and a close on one handle may be sent together. Other servers may run them in
   * parallel (the SFTP drafts allow it), so for them each waits for the one before.
   */
  get processesInOrder(): boolean {
    return Reflect.get(this.sftp, '_isOpenSSH') === true
  }

  /**
   * Handles this channel may hold open at once: what `limits@openssh.com` says (OpenSSH 9.2:
   * RLIMIT_NOFILE minus 5, so 1019), a safe 64 when the server does not say, and a bounded
   * number when it says "no limit".
   */
  get maxOpenHandles(): number {
    const offered: unknown = Reflect.get(this.sftp, 'maxOpenHandles')
    if (typeof offered !== 'number' || !(offered > 0)) return FALLBACK_OPEN_HANDLES
    return Math.min(MAX_OPEN_HANDLES, Math.floor(offered))
  }

  get hasPosixRename(): boolean {
    // Asked once per file renamed: the extension list does not change once the channel is up.
    this.posixRename ??= this.extensionVersion('posix-rename@openssh.com') !== undefined
    return this.posixRename
  }

  open(path: string, flags: 'r' | 'r+' | 'w' | 'wx'): Promise<Buffer> {
    return this.call<Buffer>(`open ${path}`, cb => this.sftp.open(path, flags, cb))
  }

  close(handle: Buffer): Promise<void> {
    return this.call<void>('close', cb => this.sftp.close(handle, cb))
  }

  write(handle: Buffer, data: Buffer, position: number): Promise<void> {
    // The bundle's ssh2 sends a chunk with room in front from where it lies (see WRITE_HEADROOM);
    // ssh2 as installed (the unit tests) has no writeInPlace and copies it.
    const inPlace = hasWriteHeadroom(data) ? (this.sftp as InPlaceWriter).writeInPlace : undefined
    return this.call<void>('write', cb =>
      inPlace
        ? inPlace.call(this.sftp, handle, data, position, err => cb(err))
        : this.sftp.write(handle, data, 0, data.length, position, err => cb(err))
    )
  }

  /** Reads up to `length` bytes; resolves with fewer at end of file and 0 bytes past it. */
  read(handle: Buffer, buffer: Buffer, length: number, position: number): Promise<number> {
    // A whole chunk with room in front: the bundle's ssh2 puts the answer together in place.
    const inPlace =
      length === buffer.length && hasWriteHeadroom(buffer)
        ? (this.sftp as InPlaceWriter).readInPlace
        : undefined
    return this.call<number>('read', cb => {
      const done = (err: Error | null | undefined, bytesRead?: number) => {
        if (err && (err as SftpError).code === SFTP_STATUS.EOF) cb(undefined, 0)
        else cb(err, bytesRead)
      }
      if (inPlace) inPlace.call(this.sftp, handle, buffer, position, done)
      else this.sftp.read(handle, buffer, 0, length, position, done)
    })
  }

  /**
   * Opens `path`, reads up to `length` bytes at offset 0 into `buffer` and closes it, the read
   * and the close sent together once the handle arrives: for servers that answer in order
   * (processesInOrder). Resolves with the bytes read, 0 at the end of the file. The three
   * requests are tracked as one (whole-read.ts): a small file's way costs no promise per request.
   */
  readWhole(path: string, buffer: Buffer, length: number): Promise<number> {
    return readWholeInOrder(this, this.sftp, path, buffer, length)
  }

  fstat(handle: Buffer): Promise<RemoteStat> {
    return this.call<ssh2.Stats>('fstat', cb => this.sftp.fstat(handle, cb)).then(toStat)
  }

  stat(path: string): Promise<RemoteStat> {
    return this.call<ssh2.Stats>(`stat ${path}`, cb => this.sftp.stat(path, cb)).then(toStat)
  }

  lstat(path: string): Promise<RemoteStat> {
    return this.call<ssh2.Stats>(`lstat ${path}`, cb => this.sftp.lstat(path, cb)).then(toStat)
  }

  /** Sets times (both or neither) and permission bits on an open file. */
  fsetstat(handle: Buffer, attrs: ssh2.InputAttributes): Promise<void> {
    return this.call<void>('fsetstat', cb => this.sftp.fsetstat(handle, attrs, cb))
  }

  setstat(path: string, attrs: ssh2.InputAttributes): Promise<void> {
    return this.call<void>(`setstat ${path}`, cb => this.sftp.setstat(path, attrs, err => cb(err)))
  }

  mkdir(path: string): Promise<void> {
    return this.call<void>(`mkdir ${path}`, cb => this.sftp.mkdir(path, err => cb(err)))
  }

  unlink(path: string): Promise<void> {
    return this.call<void>(`remove ${path}`, cb => this.sftp.unlink(path, err => cb(err)))
  }

  rmdir(path: string): Promise<void> {
    return this.call<void>(`rmdir ${path}`, cb => this.sftp.rmdir(path, err => cb(err)))
  }

  /**
   * Creates `linkPath` pointing at `target` (stored verbatim, so a relative target stays
   * relative). OpenSSH reads SYMLINK's two paths in swapped order; ssh2 swaps them back when the
   * server's ident says OpenSSH, so callers always pass (target, linkPath).
   */
  symlink(target: string, linkPath: string): Promise<void> {
    return this.call<void>(`symlink ${linkPath}`, cb =>
      this.sftp.symlink(target, linkPath, err => cb(err))
    )
  }

  /** The link's stored target, as written (not resolved). */
  readlink(path: string): Promise<string> {
    return this.call<string>(`readlink ${path}`, cb => this.sftp.readlink(path, cb))
  }

  realpath(path: string): Promise<string> {
    return this.call<string>(`realpath ${path}`, cb => this.sftp.realpath(path, cb))
  }

  /**
   * Lists a folder batch by batch (ssh2's own readdir gathers a whole folder first, however long
   * a server makes it). `onBatch` sees each batch's names before they are kept and throws to stop
   * a listing that never ends; by default one folder is bounded by LISTING_LIMITS. Of each entry
   * only what callers use is kept (not the `ls -l` long name, not the raw attributes).
   */
  async readdir(
    path: string,
    onBatch: (names: readonly string[]) => void = folderBudget(path)
  ): Promise<RemoteEntry[]> {
    const handle = await this.call<Buffer>(`list ${path}`, cb => this.sftp.opendir(path, cb))
    const listed: RemoteEntry[] = []
    const keep = (batch: ssh2.FileEntryWithStats[]): void => {
      onBatch(batch.map(entry => entry.filename))
      for (const entry of batch) listed.push(toEntry(entry.filename, entry.attrs))
    }
    try {
      // A server that answers in order sends the batches in order however many are asked for at
      // once, so a folder of a few hundred names costs one round trip, not one per 100 names.
      // Asked in rounds until one ends: the requests past the end cost an answer, not a wait.
      const inOrder = this.processesInOrder
      for (
        let round = inOrder ? READDIRS_AHEAD : 1;
        ;
        round = inOrder ? Math.min(64, 2 * round) : 1
      ) {
        const asked = Array.from({ length: round }, () => this.readdirBatch(path, handle))
        for (const batch of asked) batch.catch(() => undefined)
        let ended = false
        for (const batch of asked) {
          const got = await batch
          if (!got) ended = true
          else if (!ended) keep(got)
        }
        if (ended) break
      }
    } finally {
      // Not awaited: the server answers in order, and the next request need not wait for it.
      this.close(handle).catch(() => undefined)
    }
    return listed
  }

  private readdirBatch(
    path: string,
    handle: Buffer
  ): Promise<ssh2.FileEntryWithStats[] | undefined> {
    return this.call<ssh2.FileEntryWithStats[] | undefined>(`list ${path}`, cb =>
      this.sftp.readdir(handle, (err, list) => {
        if (err && (err as SftpError).code === SFTP_STATUS.EOF) cb(undefined, undefined)
        else cb(err, list)
      })
    )
  }

  /**
   * Atomically replaces `to` with `from`. Plain SFTP rename fails when the target exists, so
   * without the OpenSSH extension the old file is removed first: a brief window without the file,
   * never a half-written one.
   */
  replace(from: string, to: string): Promise<void> {
    // No async frame on the common path: one rename per file.
    if (this.hasPosixRename) {
      return this.call<void>(`rename ${from}`, cb => this.sftp.ext_openssh_rename(from, to, cb))
    }
    return this.removeAndRename(from, to)
  }

  private async removeAndRename(from: string, to: string): Promise<void> {
    await this.unlink(to).catch((err: SftpError) => {
      if (err.code !== SFTP_STATUS.NO_SUCH_FILE) throw err
    })
    await this.call<void>(`rename ${from}`, cb => this.sftp.rename(from, to, err => cb(err)))
  }

  end(): void {
    this.sftp.end()
  }

  private extensionVersion(name: string): string | undefined {
    const extensions: unknown = Reflect.get(this.sftp, '_extensions')
    if (extensions && typeof extensions === 'object') {
      const value: unknown = Reflect.get(extensions, name)
      return typeof value === 'string' ? value : undefined
    }
    return undefined
  }
}

/** What the build-time ssh2 patches add (scripts/ssh2-patches.mjs). */
interface InPlaceWriter {
  writeInPlace?: (
    handle: Buffer,
    data: Buffer,
    position: number,
    cb: (err: Error | null | undefined) => void
  ) => void
  readInPlace?: (
    handle: Buffer,
    buffer: Buffer,
    position: number,
    cb: (err: Error | null | undefined, bytesRead?: number) => void
  ) => void
}

function limit(sftp: ssh2.SFTPWrapper, field: string): number {
  const value: unknown = Reflect.get(sftp, field)
  return typeof value === 'number' && value > 0 ? value : FALLBACK_CHUNK
}
