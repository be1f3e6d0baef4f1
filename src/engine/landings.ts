import * as path from 'node:path'
import type { Delivery, Landings } from './deliver.js'
import { TEMP_SUFFIX } from './temp-names.js'

/** How often a folder's reading of the server's clock is renewed while files land in it. */
const CLOCK_EVERY_MS = 5000

/**
 * The folders one batch (an upload or a relay to one server) writes into and, as files land, the
 * server's clock in each. Its temporary names carry the batch's own token.
 */
export class BatchLandings implements Landings {
  turns = 0
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
    for (const f of this.files) dirs.add(path.posix.dirname(path.posix.join(this.target, f.rel)))
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
