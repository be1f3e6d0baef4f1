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
  writeSmallFileTemp,
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
  /** Files checked on the server whose renames are still to come, by path. */
  private readonly checked = new Map<string, StateEntry>()
  /**
   * The state as it will be once the checked files land, already written to a temporary file
   * while their renames run: `left` are the entries still to be recorded, `stale` says the state
   * went another way (a file recorded otherwise, one forgotten). Only renamed into place once
   * `left` is empty and it is not stale.
   */
  private ahead:
    { left: Map<string, StateEntry>; stale: boolean; temp: Promise<string | undefined> } | undefined

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
    this.checked.delete(rel)
    const ahead = this.ahead
    if (ahead) {
      const expected = ahead.left.get(rel)
      if (expected && sameEntry(expected, entry)) ahead.left.delete(rel)
      else ahead.stale = true
    }
    this.state.files.set(rel, entry)
    this.dirty = true
    if (--this.awaited === 0 && this.early) void this.flush(this.early(), true)
  }

  /**
   * A file passed its check on the server and only its rename is left. Once every awaited file
   * is that far, the state they will make is written to its temporary file while the renames
   * run; the rename that puts it in place still waits until all of them landed (record), so the
   * state never names a file that is not there.
   */
  checkedOnServer(rel: string, entry: StateEntry): void {
    this.checked.set(rel, entry)
    if (this.ahead || !this.early || this.awaited <= 0 || this.checked.size !== this.awaited) return
    const channel = this.early()
    const opened = this.opened?.on === channel ? this.opened.file : undefined
    if (opened) this.opened = undefined
    const left = new Map(this.checked)
    const text = this.serializeWith(left)
    const temp = (async () => writeSmallFileTemp(channel, this.file, text, await opened))().catch(
      () => undefined
    )
    this.ahead = { left, stale: false, temp }
  }

  /** The state text with `extra` entries in it, the state itself left as it was. */
  private serializeWith(extra: Map<string, StateEntry>): string {
    const files = this.state.files
    const before = [...extra.keys()].map(rel => [rel, files.get(rel)] as const)
    for (const [rel, entry] of extra) files.set(rel, entry)
    try {
      return serializeState(this.state)
    } finally {
      for (const [rel, entry] of before) {
        if (entry) files.set(rel, entry)
        else files.delete(rel)
      }
    }
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
    if (!this.state.files.delete(rel)) return
    this.dirty = true
    if (this.ahead) this.ahead.stale = true
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
    if (unused && file) {
      await unused.on.close(file.handle).catch(() => undefined)
      await unused.on.unlink(file.temp).catch(() => undefined)
    }
    // So is a state written ahead for files that did not all land.
    const ahead = this.ahead
    this.ahead = undefined
    const temp = await ahead?.temp
    if (temp) await channel.unlink(temp).catch(() => undefined)
  }

  private get file(): string {
    return path.posix.join(this.target, STATE_FILE)
  }

  /** The temporary file written ahead, when it holds exactly the state as it is now. */
  private async takeAhead(): Promise<string | undefined> {
    const ahead = this.ahead
    if (!ahead || ahead.stale || ahead.left.size > 0) return undefined
    this.ahead = undefined
    // A write ahead that failed leaves nothing to rename: the state is written the usual way.
    return ahead.temp
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
        const written = early ? await this.takeAhead() : undefined
        if (written) {
          await channel.replace(written, this.file)
        } else {
          const opened = early && this.opened?.on === channel ? this.opened.file : undefined
          if (opened) this.opened = undefined
          const ahead = await opened
          await writeSmallFileAtomically(channel, this.file, serializeState(this.state), ahead)
        }
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

function sameEntry(a: StateEntry, b: StateEntry): boolean {
  return a.sha256 === b.sha256 && a.size === b.size && a.mtime === b.mtime
}
