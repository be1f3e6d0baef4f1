/**
 * A local file's identity and change times, as a stat cache key (as git's index keeps one): a
 * file whose key and size are what the sync state recorded with a digest still has that digest,
 * so an unchanged re-deploy reads no file. Every write to a file sets its change time (ctime) to
 * the file system's clock, and no program can set it back (`touch -r` and `utimes` change it
 * too), so an edit after the key was taken gives another key, with one exception: an edit in the
 * same tick of the file system's clock as the change the key shows. That is why a key is kept
 * only when it is settled (see settledKey).
 */
export interface StatLike {
  dev: number
  ino: number
  mtimeMs: number
  ctimeMs: number
}

/**
 * How long before the content was read a file's change time must lie for its key to be kept:
 * the coarsest change-time granularity among common file systems (1 s: ext3, ext4 with small
 * inodes, HFS+) plus the lag of a file system's clock behind the runner's (a tick: 10 ms at most
 * on Linux), with room to spare.
 */
export const SETTLE_MS = 2000

/**
 * Device, inode, modification and change time (whole ms; a change after a settled key lies
 * SETTLE_MS or more past the recorded change time, so finer digits tell nothing), in base 36:
 * about 26 characters. Joined from an array, the key is one flat string: a template literal
 * left 50,000 keys as trees of string pieces, several times their size.
 */
export function statKey(info: StatLike): string {
  return [
    info.dev.toString(36),
    info.ino.toString(36),
    Math.floor(info.mtimeMs).toString(36),
    Math.floor(info.ctimeMs).toString(36)
  ].join(':')
}

/**
 * `key` when its change time lies SETTLE_MS or more before `readAt`, a time (runner's clock, ms)
 * no later than the read of the content whose digest is recorded with it; else undefined.
 *
 * Why that suffices: when the file still shows the same key later, every change to it after the
 * key was taken fell in the tick of that change time, which was over before `readAt`, so the
 * content read then is the content now. A file changed within SETTLE_MS of the read (a build
 * just before the deploy) is hashed again next time instead.
 */
export function settledKey(key: string | undefined, readAt: number): string | undefined {
  if (key === undefined) return undefined
  const ctime = parseInt(key.slice(key.lastIndexOf(':') + 1), 36)
  // A change time of 0 is a file system that keeps none (FAT, exFAT): nothing to settle.
  return Number.isFinite(ctime) && ctime > 0 && ctime <= readAt - SETTLE_MS ? key : undefined
}
