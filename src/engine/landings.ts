import * as path from 'node:path'
import type { Delivery, Landings } from './deliver.js'
import { TEMP_SUFFIX } from './temp-names.js'

/**
 * The folders one batch (an upload or a relay to one server) writes into and, as files land, the
 * server's clock in each. Its temporary names carry the batch's own token.
 */
export class BatchLandings implements Landings {
  turns = 0
  private readonly newest = new Map<string, number>()
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

  landed(delivery: Delivery): void {
    if (delivery.landedMtime === undefined) return
    const dir = path.posix.dirname(delivery.finalPath)
    this.newest.set(dir, Math.max(this.newest.get(dir) ?? 0, delivery.landedMtime))
  }

  serverNow(): ReadonlyMap<string, number> {
    return this.newest
  }
}
