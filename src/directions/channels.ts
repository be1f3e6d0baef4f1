import { EXEC_CHANNELS } from '../engine/channel-budget.js'

/** SFTP channels opened per connection; servers that allow fewer get fewer. */
export const CHANNELS = 8

/**
 * With `verify: sha256`, session slots kept free beside the SFTP channels for the server's
 * `sha256sum`: on stock OpenSSH (MaxSessions 10) that is 6 SFTP channels and 4 hashes at once.
 */
export const HASH_CHANNELS = EXEC_CHANNELS

/**
 * How long requests may wait with no answer at all before the connection counts as stalled:
 * twice `timeout`, between 30 s (one slow server operation, such as closing a big file on
 * network storage, must fit) and a minute. A slow link still answers every few seconds.
 */
export function stallLimitMs(timeoutMs: number): number {
  return Math.min(60_000, Math.max(30_000, 2 * timeoutMs))
}
