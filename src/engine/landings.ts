import * as path from 'node:path'
import * as core from '@actions/core'
import { forLog } from '../escape.js'
import { printableName } from '../plans/safe-names.js'
import { timed, type PhaseTimes } from '../report/timings.js'
import type { Delivery } from './deliver.js'
import { ensureRemoteDirs } from './remote-dirs.js'
import { isTransient } from './retry.js'
import type { SftpSession } from './session.js'
import { removeLeftoverTemps, sightTemps } from './stale-temps.js'
import { TEMP_SUFFIX } from './temp-names.js'

/** How often a folder's reading of the server's clock is renewed while files land in it. */
const CLOCK_EVERY_MS = 5000

/**
 * The folders one batch (an upload or a relay to one server) writes into and, as files land, the
 * server's clock in each. Its temporary names carry the batch's own token.
 */
export class BatchLandings implements Landings {
  private readonly newest = new Map<string, number>()
  /** When (runner's monotonic clock, ms) a file in each folder was last asked for a reading. */
  private readonly asked = new Map<string, number>()
  private readonly suffix: string

  constructor(
    private readonly target: string,
    private readonly files: ReadonlyArray<{ readonly rel: string }>,
    token: string
  ) {
    this.suffix = `.${token}${TEMP_SUFFIX}`
  }

  dirs(): Set<string> {
    const dirs = new Set<string>()
    // Once per folder, not per file (see ensureRemoteDirs).
    const folders = new Set<string>()
    for (const { rel } of this.files) {
      const folder = rel.slice(0, rel.lastIndexOf('/') + 1)
      if (folders.has(folder)) continue
      folders.add(folder)
      dirs.add(path.posix.dirname(path.posix.join(this.target, rel)))
    }
    return dirs
  }

  /** Only this batch writes temporary names with its token. */
  own(): { has(tempPath: string): boolean } {
    return { has: tempPath => tempPath.endsWith(this.suffix) }
  }

  /**
   * Whether `delivery` should read the server's clock. Only the sighting of other runs'
   * temporary files needs that clock, and one recent reading per folder serves it: a reading
   * older than the real "now" understates ages, so it can keep a leftover a little longer but
   * never take a live file for one. One file per folder every CLOCK_EVERY_MS is asked, instead
   * of every file paying a stat.
   */
  wantsClock(delivery: Delivery): boolean {
    const dir = path.posix.dirname(delivery.finalPath)
    const now = performance.now()
    const last = this.asked.get(dir)
    if (last !== undefined && now - last < CLOCK_EVERY_MS) return false
    this.asked.set(dir, now)
    return true
  }

  landed(delivery: Delivery): void {
    if (delivery.landedMtime === undefined) return
    const dir = path.posix.dirname(delivery.finalPath)
    this.newest.set(dir, Math.max(this.newest.get(dir) ?? 0, delivery.landedMtime))
  }

  serverNow(): ReadonlyMap<string, number> {
    return this.newest
  }
}

/** The mode a folder the action created gets: `rel` is below the target, undefined above it. */
export type FolderModeOf<S> = (
  connection: S,
  rel: string | undefined
) => Promise<number | undefined>

/**
 * The per-connection steps around a batch of deliveries into `target`: create the directories
 * the pending files need (and start looking for other runs' temporary files alongside the
 * transfer); once every file landed, remove those that are leftovers of runs that are over, then
 * give the folders this run created their modes (last, so a mode without write permission cannot
 * stop a file).
 */
export function landingSteps<S>(
  target: string,
  deliveries: Delivery[] | Landings,
  sessionOf: (connection: S) => SftpSession,
  folderMode?: FolderModeOf<S>,
  times?: PhaseTimes,
  listed?: ReadonlySet<string>
): { prepare: (c: S, rels: string[]) => Promise<void>; finish: (c: S) => Promise<void> } {
  let sighted: Promise<string[]> | undefined
  const modes: Array<{ dir: string; mode: number }> = []
  const landings = Array.isArray(deliveries) ? landingsOf(deliveries) : deliveries
  return {
    prepare: async (connection, rels) => {
      const session = sessionOf(connection)
      const created = await timed(times, 'mkdir', () =>
        ensureRemoteDirs(session.main, target, rels, listed)
      )
      // A folder made just now holds no other run's leftovers: only older folders are listed.
      const fresh = new Set(created)
      const older = [...landings.dirs()].filter(dir => !fresh.has(dir))
      sighted = sightTemps(session, older, landings.own())
      if (!folderMode) return
      // A source folder that cannot be read leaves the server's default mode, not a failed run.
      const wanted = await Promise.all(
        created.map(dir =>
          folderMode(connection, relBelow(target, dir)).catch((err: unknown) => {
            if (isTransient(err, session)) throw err
            return undefined
          })
        )
      )
      created.forEach((dir, i) => {
        const mode = wanted[i]
        if (mode !== undefined) modes.push({ dir, mode })
      })
    },
    finish: async connection => {
      const session = sessionOf(connection)
      await removeLeftoverTemps(session, (await sighted) ?? [], landings.serverNow())
      await Promise.all(
        modes.map(({ dir, mode }) =>
          session.main.setstat(dir, { mode }).catch((err: Error) => {
            if (isTransient(err, session)) throw err
            core.warning(
              `Could not set mode ${mode.toString(8)} on the folder ${printableName(dir)}: ${forLog(err.message)}`
            )
          })
        )
      )
    }
  }
}

function relBelow(target: string, dir: string): string | undefined {
  const rel = path.posix.relative(target, dir)
  return rel === '' || rel.startsWith('..') ? undefined : rel
}

/**
 * What landingSteps needs of a batch's deliveries. An upload of many files gives it this rather
 * than a Delivery per file made up front (and held to the end): 50,000 of those, each with its
 * paths and watermark, weighed more than the rest of the run.
 */
export interface Landings {
  /** The folders the files land in. */
  dirs(): Iterable<string>
  /** Which temporary files in those folders are this batch's own. */
  own(): { has(tempPath: string): boolean }
  /** See serverNow below. */
  serverNow(): ReadonlyMap<string, number>
}

function landingsOf(deliveries: Delivery[]): Landings {
  return {
    dirs: () => deliveries.map(d => path.posix.dirname(d.finalPath)),
    own: () => new Set(deliveries.map(d => d.tempPath)),
    serverNow: () => serverNow(deliveries)
  }
}

/**
 * Per directory, the newest mtime of a file this run wrote there: the server's "now" as that
 * directory's file system sees it, never later than the real one, so ages are never overstated.
 */
function serverNow(deliveries: Delivery[]): Map<string, number> {
  const now = new Map<string, number>()
  for (const { finalPath, landedMtime } of deliveries) {
    if (landedMtime === undefined) continue
    const dir = path.posix.dirname(finalPath)
    now.set(dir, Math.max(now.get(dir) ?? 0, landedMtime))
  }
  return now
}
