import type { RemoteEntry, RemoteStat, SftpChannel } from './sftp.js'

/**
 * Entries kept across retries at most. A listing is bounded by the walker's limits, not by the
 * cache: past this many, folders are simply read again after a drop, so a huge (or hostile)
 * tree is never held twice in memory.
 */
const MAX_CACHED_ENTRIES = 50_000

/**
 * Listings and stats a phase has already read, kept across its retries: a walk cut short by a
 * dropped connection carries on over the next one without reading again what it had. Only
 * answers are kept, never failures, and the cache lives as long as the phase that made it.
 */
export class ListingCache {
  private readonly listings = new Map<string, RemoteEntry[]>()
  private readonly stats = new Map<string, RemoteStat>()
  private entries = 0

  /** Reads through `channel` whatever is not cached yet. */
  on(channel: SftpChannel): Pick<SftpChannel, 'stat' | 'readdir'> {
    return {
      stat: async path => this.stats.get(path) ?? keep(this.stats, path, await channel.stat(path)),
      readdir: async (path, onBatch) => {
        const cached = this.listings.get(path)
        // The walker counts what a listing holds against its limits, cached or not.
        if (cached) {
          onBatch?.(cached.map(e => e.name))
          return cached
        }
        const listed = await channel.readdir(path, onBatch)
        if (this.entries + listed.length <= MAX_CACHED_ENTRIES) {
          this.entries += listed.length
          this.listings.set(path, listed)
        }
        return listed
      }
    }
  }
}

function keep<T>(map: Map<string, T>, key: string, value: T): T {
  map.set(key, value)
  return value
}
