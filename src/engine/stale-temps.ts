import * as path from 'node:path'
import * as core from '@actions/core'
import { forLog } from '../escape.js'
import { unsafeNameReason } from '../plans/safe-names.js'
import type { SftpSession } from './session.js'
import { isTempName } from './temp-names.js'

/**
 * A temporary file unchanged this long, by the server's clock, belongs to a run that is over: a
 * live run writes, resumes or renames its files within seconds (its own timeouts see to that).
 */
export const LEFTOVER_AGE_SECONDS = 15 * 60

/**
 * Temporary files of other runs in `dirs`: only names this action makes (a safe name in its exact
 * temporary pattern), never one in `own`. Listing starts with the transfer and runs alongside
 * it; which ones are leftovers is decided at the end (see removeLeftoverTemps).
 */
export async function sightTemps(
  session: SftpSession,
  dirs: string[],
  own: { has(file: string): boolean }
): Promise<string[]> {
  const listed = await Promise.all(
    [...new Set(dirs)].map(dir =>
      session.main
        .readdir(dir)
        .then(entries =>
          entries
            .filter(e => e.isFile && isOurs(e.name))
            .map(e => path.posix.join(dir, e.name))
            .filter(file => !own.has(file))
        )
        .catch(() => [])
    )
  )
  return listed.flat()
}

/**
 * Removes the sighted temporary files that have not changed for LEFTOVER_AGE_SECONDS. Age is
 * measured on the server: `serverNow` maps each directory to the mtime of a file this run has
 * just written there, so neither the runner's clock nor a file system with its own clock (a
 * network share) can make another run's file in flight look old.
 */
export async function removeLeftoverTemps(
  session: SftpSession,
  sightings: string[],
  serverNow: ReadonlyMap<string, number>
): Promise<void> {
  let inUse = 0
  await Promise.all(
    sightings.map(async file => {
      const now = serverNow.get(path.posix.dirname(file))
      const info = await session.main.lstat(file).catch(() => undefined)
      // mtime 0 is a server that does not say: unknown age is never old enough.
      if (now === undefined || !info?.isFile || info.mtime <= 0 || now <= 0) return
      if (now - info.mtime < LEFTOVER_AGE_SECONDS) {
        inUse++
        return
      }
      await session.main
        .unlink(file)
        .then(() => core.info(`Removed ${forLog(file)}, left by an earlier interrupted run.`))
        .catch(() => undefined)
    })
  )
  if (inUse > 0) {
    core.info(
      `Left ${inUse} temporary files of other runs alone: they changed less than ` +
        `${LEFTOVER_AGE_SECONDS / 60} minutes ago, so another run may still be writing them.`
    )
  }
}

function isOurs(name: string): boolean {
  return isTempName(name) && unsafeNameReason(name) === undefined
}
