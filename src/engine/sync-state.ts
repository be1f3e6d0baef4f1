import * as path from 'node:path'
import * as core from '@actions/core'
import { forLog } from '../escape.js'
import { parseState, STATE_FILE, type StateEntry, type SyncState } from '../plans/sync.js'
import type { SftpChannel } from './sftp.js'
import { readSmallFile, writeSmallFileAtomically } from './small-files.js'

/** How often the state file is rewritten while files land. */
const FLUSH_INTERVAL_MS = 3000

/** Reads the state file a target keeps; a missing or unreadable one means "send everything". */
export async function readSyncState(
  channel: SftpChannel,
  target: string
): Promise<SyncState | undefined> {
  const text = await readSmallFile(channel, path.posix.join(target, STATE_FILE)).catch(
    () => undefined
  )
  return parseState(text)
}

/**
 * The state file, kept up to date as files land: rewritten (atomically) every few seconds during
 * the upload and once at the end, so a run cut short still remembers what it delivered.
 */
export class StateBook {
  private readonly state: SyncState
  private dirty = false
  private writing: Promise<void> = Promise.resolve()
  private timer: NodeJS.Timeout | undefined

  constructor(
    previous: SyncState | undefined,
    private readonly target: string
  ) {
    this.state = { version: 1, files: { ...(previous?.files ?? {}) } }
  }

  record(rel: string, entry: StateEntry): void {
    this.state.files[rel] = entry
    this.dirty = true
  }

  forget(rel: string): void {
    delete this.state.files[rel]
    this.dirty = true
  }

  /** Keeps only entries for files the source still has. */
  retain(rels: Set<string>): void {
    for (const rel of Object.keys(this.state.files)) if (!rels.has(rel)) this.forget(rel)
  }

  startPeriodicFlush(channel: () => SftpChannel): void {
    this.timer = setInterval(() => void this.flush(channel()), FLUSH_INTERVAL_MS)
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
    const text = `${JSON.stringify(this.state)}\n`
    this.writing = this.writing.then(() =>
      writeSmallFileAtomically(channel, path.posix.join(this.target, STATE_FILE), text).catch(
        (err: Error) => {
          this.dirty = true
          core.warning(`Could not save the sync state: ${forLog(err.message)}`)
        }
      )
    )
    return this.writing
  }
}
