import type { RemoteEntry, RemoteStat, SftpChannel } from './sftp.js'

/**
 * Entries kept across retries at most. A listing is bounded by the walker's limits, not by the
 * cache: past this many, folders are simply read again after a drop, so a huge (or hostile)
 * tree is never held twice in memory.
 */
const MAX_CACHED_ENTRIES = 50_000

/**
 * Folders listed ahead at most (see prefetch): a handle each until listed, beside the walker's
 * own, well under any server's open-handle limit.
 */
const PREFETCH_MAX = 64

/**
 * Listings and stats a phase has already read, kept across its retries: a walk cut short by a
 * dropped connection carries on over the next one without reading again what it had. Only
 * answers are kept, never failures, and the cache lives as long as the phase that made it.
 */
export class ListingCache {
  private readonly listings = new Map<string, RemoteEntry[]>()
  private readonly stats = new Map<string, RemoteStat>()
  /** Listings asked for ahead of the walk, used once the walk reaches their folders. */
  private readonly ahead = new Map<string, Promise<RemoteEntry[]>>()
  private entries = 0

  /**
   * Starts listing `dirs` now, before the walk finds them in their parents' listings: folders
   * the source has are most likely on the server too, and their listings then go out with the
   * root's instead of a round trip per level after it. A listing is used only if the walk asks
   * for that folder (a folder the server does not have, or holds as a link, is never read from
   * here); a failed one is read again. Each is bounded as a folder listed on its own. They are
   * spread over `channels`: a server lists each channel's folders one after another.
   */
  prefetch(channels: SftpChannel[], dirs: Iterable<string>): void {
    for (const dir of dirs) {
      if (this.ahead.size >= PREFETCH_MAX) return
      if (this.ahead.has(dir) || this.listings.has(dir)) continue
      const listing = channels[this.ahead.size % channels.length].readdir(dir)
      listing.catch(() => undefined)
      this.ahead.set(dir, listing)
    }
  }

  /** Reads through `channel` whatever is not cached yet. */
  on(channel: SftpChannel): Pick<SftpChannel, 'stat' | 'readdir'> {
    return {
      stat: async path => this.stats.get(path) ?? keep(this.stats, path, await channel.stat(path)),
      readdir: async (path, onBatch) => {
        const known = this.listings.get(path) ?? (await this.takeAhead(path))
        // The walker counts what a listing holds against its limits, cached or not.
        if (known) {
          onBatch?.(known.map(e => e.name))
          return known
        }
        return this.keepListing(path, await channel.readdir(path, onBatch))
      }
    }
  }

  private keepListing(path: string, listed: RemoteEntry[]): RemoteEntry[] {
    if (this.entries + listed.length <= MAX_CACHED_ENTRIES) {
      this.entries += listed.length
      this.listings.set(path, listed)
    }
    return listed
  }

  private async takeAhead(path: string): Promise<RemoteEntry[] | undefined> {
    const listing = this.ahead.get(path)
    if (!listing) return undefined
    this.ahead.delete(path)
    return listing.then(
      listed => this.keepListing(path, listed),
      () => undefined
    )
  }
}

function keep<T>(map: Map<string, T>, key: string, value: T): T {
  map.set(key, value)
  return value
}
