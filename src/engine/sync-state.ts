import * as path from 'node:path'
import * as core from '@actions/core'
import { forLog } from '../escape.js'
import { ConnectionError } from '../errors.js'
import { parseState, serializeState } from '../plans/state-format.js'
import { STATE_FILE, type StateEntry, type SyncState } from '../plans/sync.js'
import { SFTP_STATUS, type SftpChannel, type SftpError } from './sftp.js'
import { readSmallFile, writeSmallFileAtomically } from './small-files.js'

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
    await this.flush(channel)
  }

  stopTimer(): void {
    clearInterval(this.timer)
  }

  /** Writes are queued one after another; a failed write is a warning, the next one retries. */
  flush(channel: SftpChannel): Promise<void> {
    if (!this.dirty) return this.writing
    this.dirty = false
    this.writing = this.writing.then(async () => {
      const started = this.now()
      try {
        const file = path.posix.join(this.target, STATE_FILE)
        await writeSmallFileAtomically(channel, file, serializeState(this.state))
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
