import * as path from 'node:path'
import * as core from '@actions/core'
import { forLog } from '../escape.js'
import { ConnectionError } from '../errors.js'
import { parseState, serializeState } from '../plans/state-format.js'
import { STATE_FILE, type StateEntry, type SyncState } from '../plans/sync.js'
import { SFTP_STATUS, type SftpChannel, type SftpError } from './sftp.js'
import {
  openSmallFileTemp,
  readSmallFile,
  writeSmallFileAtomically,
  type OpenedTemp
} from './small-files.js'

/** How often, at most, the state file is rewritten while files land. */
const FLUSH_INTERVAL_MS = 3000

/**
 * A rewrite may take at most this share of the upload's time: a big state (tens of thousands of
 * files) is rewritten less often than a small one instead of every few seconds.
 */
const FLUSH_SHARE = 0.1

/**
 * About 70 bytes a file plus its path: room for several hundred thousand files, far more than a
 * target's listing holds, while a file that large is surely not ours.
 */
export const MAX_STATE_BYTES = 64 * 1024 * 1024

/**
 * Reads the state file a target keeps. A missing one means a first deploy; one that cannot be
 * read or used is a warning (every file is then sent, and the state written anew), never
 * silently the same as "no state". A lost connection is not an unreadable state: it is thrown.
 */
export async function readSyncState(
  channel: SftpChannel,
  target: string
): Promise<SyncState | undefined> {
  const file = path.posix.join(target, STATE_FILE)
  let text: string
  try {
    text = await readSmallFile(channel, file, MAX_STATE_BYTES)
  } catch (err) {
    if (err instanceof ConnectionError) throw err
    if ((err as SftpError).code === SFTP_STATUS.NO_SUCH_FILE) return undefined
    warnUnusable(file, (err as Error).message)
    return undefined
  }
  try {
    return parseState(text)
  } catch (err) {
    warnUnusable(file, (err as Error).message)
    return undefined
  }
}

function warnUnusable(file: string, reason: string): void {
  core.warning(
    `The sync state ${forLog(file)} could not be used (${forLog(reason)}). Every file will be sent this time, ` +
      'and the state written anew.'
  )
}

/**
 * The state file, kept up to date as files land: rewritten (atomically) now and then during the
 * upload and once at the end, so a run cut short still remembers what it delivered. Nothing is
 * written when nothing changed.
 */
export class StateBook {
  private readonly state: SyncState
  private dirty = false
  private writing: Promise<void> = Promise.resolve()
  private timer: NodeJS.Timeout | undefined
  private notBefore = 0
  private awaited = -1
  private early: (() => SftpChannel) | undefined
  /** The state's temporary file, opened while the files move; used by one write at most. */
  private opened: { on: SftpChannel; file: Promise<OpenedTemp | undefined> } | undefined

  /**
   * Takes `previous` over rather than copying it (50,000 entries twice in memory): the caller
   * hands it on and reads it no more.
   */
  constructor(
    previous: SyncState | undefined,
    private readonly target: string,
    private readonly now: () => number = Date.now
  ) {
    this.state = previous ?? { files: new Map() }
  }

  record(rel: string, entry: StateEntry): void {
    this.state.files.set(rel, entry)
    this.dirty = true
    if (--this.awaited === 0 && this.early) void this.flush(this.early(), true)
  }

  /**
   * Writes the state as soon as `count` more files are recorded, without waiting for the upload
   * to wind up (leftover temporary files, folder modes): the last file's round trips and the
   * state's then overlap. Its temporary file is opened now, while the files move, so the
   * write costs two round trips after the last file, not three. stop() still writes whatever
   * changed after that.
   */
  flushWhenRecorded(count: number, channel: () => SftpChannel): void {
    this.awaited = count
    this.early = channel
    if (count <= 0) return
    const on = channel()
    const file = openSmallFileTemp(on, this.file).catch(() => undefined)
    this.opened = { on, file }
  }

  forget(rel: string): void {
    if (this.state.files.delete(rel)) this.dirty = true
  }

  /** Keeps only entries for files the source still has. */
  retain(has: (rel: string) => boolean): void {
    for (const rel of this.state.files.keys()) if (!has(rel)) this.forget(rel)
  }

  startPeriodicFlush(channel: () => SftpChannel): void {
    this.timer = setInterval(() => {
      if (this.now() >= this.notBefore) void this.flush(channel())
    }, FLUSH_INTERVAL_MS)
    this.timer.unref()
  }

  async stop(channel: SftpChannel): Promise<void> {
    this.stopTimer()
    await this.flush(channel, true)
    // A temporary file opened for a write that never came is not left behind.
    const unused = this.opened
    this.opened = undefined
    const file = await unused?.file
    if (!unused || !file) return
    await unused.on.close(file.handle).catch(() => undefined)
    await unused.on.unlink(file.temp).catch(() => undefined)
  }

  private get file(): string {
    return path.posix.join(this.target, STATE_FILE)
  }

  stopTimer(): void {
    clearInterval(this.timer)
  }

  /**
   * Writes are queued one after another; a failed write is a warning, the next one retries.
   * `early`: into the temporary file opened ahead, when it was opened on this channel.
   */
  flush(channel: SftpChannel, early = false): Promise<void> {
    if (!this.dirty) return this.writing
    this.dirty = false
    this.writing = this.writing.then(async () => {
      const started = this.now()
      try {
        const opened = early && this.opened?.on === channel ? this.opened.file : undefined
        if (opened) this.opened = undefined
        const ahead = await opened
        await writeSmallFileAtomically(channel, this.file, serializeState(this.state), ahead)
      } catch (err) {
        this.dirty = true
        core.warning(`Could not save the sync state: ${forLog((err as Error).message)}`)
      }
      const took = this.now() - started
      this.notBefore = this.now() + took / FLUSH_SHARE
    })
    return this.writing
  }
}
