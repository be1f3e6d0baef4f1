import type { RemoteEntry, RemoteStat, SftpChannel } from './sftp.js'

/**
 * Listings and stats a phase has already read, kept across its retries: a walk cut short by a
 * dropped connection carries on over the next one without reading again what it had. Only
 * answers are kept, never failures, and the cache lives as long as the phase that made it.
 */
export class ListingCache {
  private readonly listings = new Map<string, RemoteEntry[]>()
  private readonly stats = new Map<string, RemoteStat>()

  /** Reads through `channel` whatever is not cached yet. */
  on(channel: SftpChannel): Pick<SftpChannel, 'stat' | 'readdir'> {
    return {
      stat: async path => this.stats.get(path) ?? keep(this.stats, path, await channel.stat(path)),
      readdir: async path =>
        this.listings.get(path) ?? keep(this.listings, path, await channel.readdir(path))
    }
  }
}

function keep<T>(map: Map<string, T>, key: string, value: T): T {
  map.set(key, value)
  return value
}
