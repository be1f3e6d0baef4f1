import { ActionError } from '../errors.js'
import type { RemoteLister, RemoteListing } from './remote-lister.js'
import { printableName } from './safe-names.js'

/**
 * Bounds on listing a server's folders. A hostile or broken server can present an endless tree
 * (every folder holding more folders, or one folder that never stops listing); unbounded, the
 * listing grows until the runner runs out of memory. With everything a listed file carries now
 * (times and modes for `preserve`), 500,000 entries of an endless tree peaked at 350 MiB; these
 * limits keep a download's listing well under 300 MiB.
 */
export const LISTING_LIMITS = {
  /** Folder levels below the listed folder. */
  depth: 64,
  /** Entries of every kind (files, folders, links, refused names) in one listing. */
  entries: 300_000,
  /** Bytes (UTF-8) of the relative paths of those entries, so long names cannot outgrow memory. */
  pathBytes: 32 * 1024 * 1024
} as const

/** Folders listed at once: enough to hide round trips, well under a server's open-handle limit. */
const FOLDERS_AT_ONCE = 64

/** What the user can change when a listing hits a limit (none for a folder listed on its own). */
export type ListedInput = 'source' | 'target' | undefined

export interface ListingLimits {
  depth: number
  entries: number
  pathBytes: number
}

/** A listing stopped at one of LISTING_LIMITS. */
export class ListingLimitError extends ActionError {
  constructor(message: string) {
    super('Listing limit reached', message)
  }
}

/** A folder to list: its full path, its path below the listed folder, and how deep that is. */
export interface Folder {
  dir: string
  rel: string
  depth: number
}

/**
 * Walks a server's folders within LISTING_LIMITS, stopping with an error that names the limit
 * and the input to narrow. FOLDERS_AT_ONCE folders are listed together, deepest first, so the
 * folders waiting to be listed stay few, and nothing of a listing outlives its visit: memory is
 * what the caller keeps, not what the server sends.
 */
export class ListingBudget {
  private entries = 0
  private pathBytes = 0
  /** Once a limit is hit, listings still running stop at their next batch. */
  private stopped: ListingLimitError | undefined

  constructor(
    private readonly input: ListedInput,
    private readonly limits: ListingLimits = LISTING_LIMITS
  ) {}

  /**
   * Lists `first`, hands each listing to `visit`, and lists every folder `visit` returns, until
   * none are left. Rejects with the first error (a limit, or the server's).
   */
  walk<F extends Folder>(
    lister: RemoteLister,
    first: F,
    visit: (folder: F, entries: RemoteListing[]) => F[]
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      const waiting: F[] = [first]
      let active = 0
      let failed = false
      const fail = (err: unknown): void => {
        failed = true
        reject(err)
      }
      const pump = (): void => {
        if (failed) return
        if (waiting.length === 0 && active === 0) return resolve()
        while (active < FOLDERS_AT_ONCE && waiting.length > 0) {
          const folder = waiting.pop() as F
          active++
          this.list(lister, folder).then(entries => {
            active--
            if (failed) return
            try {
              for (const child of visit(folder, entries)) waiting.push(child)
            } catch (err) {
              return fail(err)
            }
            pump()
          }, fail)
        }
      }
      pump()
    })
  }

  private async list(lister: RemoteLister, folder: Folder): Promise<RemoteListing[]> {
    this.enter(folder.dir, folder.depth)
    const prefixBytes = Buffer.byteLength(folder.rel)
    return lister.readdir(folder.dir, names => this.count(folder.dir, names, prefixBytes))
  }

  private enter(dir: string, depth: number): void {
    if (this.stopped) throw this.stopped
    if (depth < this.limits.depth) return
    throw this.stop(
      `the server's folders under '${printableName(dir)}' go deeper than ` +
        `${this.limits.depth} levels, the most a listing descends. ${this.narrow()}`
    )
  }

  /**
   * Counts one batch of entries listed in a folder whose relative path is `prefix` bytes long.
   * An empty batch counts as one entry, so a server sending empty batches forever is stopped too.
   */
  count(dir: string, names: readonly string[], prefixBytes: number): void {
    if (this.stopped) throw this.stopped
    this.entries += Math.max(1, names.length)
    for (const name of names) this.pathBytes += prefixBytes + 1 + Buffer.byteLength(name)
    if (this.entries > this.limits.entries) {
      throw this.stop(
        `the server listed more than ${this.limits.entries.toLocaleString('en-US')} entries ` +
          `(the most one listing holds), the last in '${printableName(dir)}'. ${this.narrow()}`
      )
    }
    if (this.pathBytes > this.limits.pathBytes) {
      throw this.stop(
        `the paths the server listed add up to more than ` +
          `${Math.round(this.limits.pathBytes / 1024 / 1024)} MiB (the most one listing ` +
          `holds), the last in '${printableName(dir)}'. ${this.narrow()}`
      )
    }
  }

  private stop(message: string): ListingLimitError {
    this.stopped = new ListingLimitError(message)
    return this.stopped
  }

  private narrow(): string {
    if (this.input === 'source')
      return "Narrow 'source' to a smaller folder or a pattern, or split the transfer into several steps."
    if (this.input === 'target')
      return (
        "Point 'target' at a smaller folder, or upload without 'sync', 'delete' and 'dry-run' " +
        '(which list the target).'
      )
    return 'No real folder holds that many; the server is broken or hostile.'
  }
}

/** The default bound for a single folder listed on its own (sidecars, releases, temp files). */
export function folderBudget(dir: string): (names: readonly string[]) => void {
  const budget = new ListingBudget(undefined)
  return names => budget.count(dir, names, 0)
}
