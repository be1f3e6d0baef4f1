import * as core from '@actions/core'
import { ConnectionError } from '../errors.js'
import { forLog } from '../escape.js'
import { printableName } from '../plans/safe-names.js'
import {
  decideReadBack,
  hashBatches,
  readBackSha256,
  readsBack,
  sha256sumOnServer,
  type HashMethod,
  type HashRequest
} from './remote-hash.js'
import type { SftpSession } from './session.js'

export type { HashRequest }

/** Server-side hashes by path; a path missing from `hashes` could not be hashed (treat as changed). */
export interface BatchHashes {
  hashes: Map<string, string>
  /** Files hashed by each method, for the log. */
  counts: Record<HashMethod, number>
}

/** Files read back at once: each holds a handle and some requests on the shared budget. */
const READ_BACK_AT_ONCE = 4

/**
 * SHA-256 of many server files for `sync: checksum`: `sha256sum` with many paths per command
 * where the server runs commands, otherwise (decided once per server) read back over SFTP.
 */
export async function hashRemoteFiles(
  session: SftpSession,
  files: HashRequest[]
): Promise<BatchHashes> {
  const result: BatchHashes = { hashes: new Map(), counts: { sha256sum: 0, 'read-back': 0 } }
  for (const batch of hashBatches(files)) {
    if (!readsBack(session)) {
      const outcome = await sha256sumOnServer(session, batch)
      if ('ran' in outcome) {
        for (const [p, h] of outcome.ran) result.hashes.set(p, h)
        result.counts.sha256sum += batch.length
        continue
      }
      if ('unusable' in outcome) decideReadBack(session.server, outcome.unusable)
    }
    await readBack(session, batch, result)
  }
  return result
}

async function readBack(session: SftpSession, batch: HashRequest[], result: BatchHashes) {
  const queue = [...batch]
  const worker = async (): Promise<void> => {
    for (let file = queue.shift(); file; file = queue.shift()) {
      try {
        result.hashes.set(file.path, await readBackSha256(session, file.path, file.size))
      } catch (err) {
        if (err instanceof ConnectionError || session.dead) throw err
        // Unreadable or changed while read: unhashed, so it is sent again.
        core.debug(
          `could not read back ${printableName(file.path)}: ${forLog((err as Error).message)}`
        )
      }
      result.counts['read-back']++
    }
  }
  await Promise.all(Array.from({ length: READ_BACK_AT_ONCE }, worker))
}
