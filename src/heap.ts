import { PerformanceObserver } from 'node:perf_hooks'
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8'

/**
 * From this many files on, a run keeps V8's old generation close to what is live (ADRs 0006 and
 * 0007): per-file records and requests in flight are what fill it, and the 10,000- and
 * 50,000-file memory targets depend on it.
 */
export const MANY_FILES = 1000

/**
 * The young generation's size for many files: two semispaces of 8 MiB. Hundreds of files in
 * flight keep each request's objects alive for a round trip; in 1 MiB semispaces they outlived
 * about 1,450 scavenges of a 50,000-file deploy (8.5 s of pauses under load) and were promoted to
 * die in the old generation. In 8 MiB: 330 scavenges, 3.8 s. Its cost in peak RSS was 9 to 24 MiB,
 * and a 50,000-file re-deploy's peak fell by 20 MiB, fewer objects dying old. V8's own growth
 * goes on to 16 MiB semispaces.
 */
export const YOUNG_BYTES = 16 * 1024 * 1024

type SetFlags = (flags: string) => void
type NewSpaceSize = () => number

/** The flags this run asked for, by name: what a thread's start undoes is set again from here. */
const wanted = new Map<string, string>()

function want(set: SetFlags, flag: string): void {
  wanted.set(flag.slice(0, flag.indexOf('=')), flag)
  set(flag)
}

/**
 * The first lines of a worker thread's source, which set the flags this run asked for again. On
 * Node 20, starting a thread's isolate puts V8's flags back to their defaults for the whole
 * process: after a hashing or landing thread started, the young generation grew to 16 MiB
 * semispaces again (a 10,000-file pull peaked at 140 MiB, not 100). Node 24 keeps them; setting
 * them again is harmless there. The text is fixed when the thread is created and runs a little
 * later, so whoever starts a thread also calls reapplyHeapFlags() once it is online: a flag
 * changed in between (a growth factor put back by the observer) then holds.
 */
export function threadPrelude(): string {
  return [...wanted.values()]
    .map(flag => `require('node:v8').setFlagsFromString(${JSON.stringify(flag)});\n`)
    .join('')
}

/** Sets again the latest of each flag this run asked for (see threadPrelude). */
export function reapplyHeapFlags(set: SetFlags = setFlagsFromString): void {
  for (const flag of wanted.values()) set(flag)
}

function newSpaceSize(): number {
  return getHeapSpaceStatistics().find(s => s.space_name === 'new_space')?.space_size ?? 0
}

/**
 * Set before any work: while the source is walked or listed nobody knows yet how many files a
 * run holds, and a big tree's records are what must not be left to grow threefold.
 */
export function keepHeapClose(set: SetFlags = setFlagsFromString): void {
  // Kept at its first size until the run is known to hold many files: a walk or a listing of
  // 50,000 entries runs without turning the event loop, long enough for V8 to grow the young
  // generation twice before anything could stop it.
  want(set, '--semi-space-growth-factor=1')
  // Objects that live for a round trip fill the old generation and die soon after promotion, and
  // V8 lets it grow to three or four times what a full collection left: 22 MiB live but 78 MiB
  // of heap for 10,000 files at 50 ms.
  want(set, '--heap-growing-percent=50')
}

/**
 * Once the number of files to move is known. A few big files need no close heap: their memory
 * is the buffer pool's, and collecting at half growth made a 512 MiB download spend about 12%
 * more client CPU (more full collections while chunks stream through). V8 reads the flag each
 * time it sets the next limit, and 0 gives it back its own growth factor. Many files get a young
 * generation grown once, to YOUNG_BYTES: the factor is read at each growth, so it is put back
 * to 1 after the first collection that finds the young generation grown. The observer is
 * returned for tests; nothing else needs it.
 */
export function sizeHeapFor(
  files: number,
  set: SetFlags = setFlagsFromString,
  size: NewSpaceSize = newSpaceSize
): PerformanceObserver | undefined {
  if (files < MANY_FILES) {
    want(set, '--heap-growing-percent=0')
    return undefined
  }
  const first = size()
  // V8 grows by a factor, not to a size, and the young generation may have grown already while
  // the bundle was loaded (before keepHeapClose).
  const factor = Math.floor(YOUNG_BYTES / Math.max(first, 1))
  if (factor < 2) return undefined
  want(set, `--semi-space-growth-factor=${factor}`)
  const grown = new PerformanceObserver(() => {
    if (size() <= first) return
    want(set, '--semi-space-growth-factor=1')
    grown.disconnect()
  })
  grown.observe({ entryTypes: ['gc'] })
  return grown
}
