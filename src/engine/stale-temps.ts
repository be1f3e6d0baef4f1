import * as path from 'node:path'
import * as core from '@actions/core'
import { forLog } from '../escape.js'
import type { SftpSession } from './session.js'
import type { RemoteStat } from './sftp.js'
import { isTempName, RUN_TOKEN } from './temp-names.js'

/** Another run's temporary file, as first seen. */
export interface TempSighting {
  path: string
  size: number
  mtime: number
}

/**
 * Temporary files of other runs in `dirs`, with their size and mtime when seen. Listing starts
 * with the transfer and runs alongside it; whether each one is abandoned is decided at the end
 * (see removeAbandonedTemps).
 */
export async function sightTemps(session: SftpSession, dirs: string[]): Promise<TempSighting[]> {
  const listed = await Promise.all(
    [...new Set(dirs)].map(dir =>
      session.main
        .readdir(dir)
        .then(entries =>
          entries
            .filter(e => e.isFile && isTempName(e.name) && !e.name.includes(RUN_TOKEN))
            .map(e => path.posix.join(dir, e.name))
        )
        .catch(() => [])
    )
  )
  // Read the same way as at the end (some servers leave sizes out of listings), so "unchanged"
  // compares like with like.
  const seen = await Promise.all(
    listed.flat().map(file =>
      session.main
        .stat(file)
        .then(s => ({ path: file, size: s.size, mtime: s.mtime }))
        .catch(() => undefined)
    )
  )
  return seen.filter((s): s is TempSighting => s !== undefined)
}

/**
 * Removes the sighted temporary files that did not change while this run transferred: those
 * were left by an interrupted run. One that grew or was touched belongs to a run still writing
 * into the same directory right now (two deploys racing), and removing it would break that run.
 */
export async function removeAbandonedTemps(
  session: SftpSession,
  sightings: TempSighting[]
): Promise<void> {
  await Promise.all(
    sightings.map(async seen => {
      const now = await session.main.stat(seen.path).catch(() => undefined)
      if (now === undefined) return
      if (changed(seen, now)) {
        core.info(`Left ${forLog(seen.path)} alone: another run is writing it.`)
        return
      }
      await session.main
        .unlink(seen.path)
        .then(() => core.info(`Removed ${forLog(seen.path)}, left by an earlier interrupted run.`))
        .catch(() => undefined)
    })
  )
}

function changed(seen: TempSighting, now: RemoteStat): boolean {
  return now.size !== seen.size || now.mtime !== seen.mtime
}
