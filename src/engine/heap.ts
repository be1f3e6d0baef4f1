import { setFlagsFromString } from 'node:v8'

/**
 * From this many files on, a run keeps V8's old generation close to what is live (ADR 0006 and
 * 0007): per-file records and requests in flight are what fill it, and the 10,000- and
 * 50,000-file memory targets depend on it.
 */
export const MANY_FILES = 1000

type SetFlags = (flags: string) => void

/**
 * Set before any work: while the source is walked or listed nobody knows yet how many files a
 * run holds, and a big tree's records are what must not be left to grow threefold.
 */
export function keepHeapClose(set: SetFlags = setFlagsFromString): void {
  // Hundreds of small files in flight keep every request's objects alive for a round trip, and
  // V8 answers that survival by growing its young generation up to 16 MiB semispaces: about
  // 25 MiB of peak memory for 10,000 files. Kept at its first size, it cost no measurable CPU
  // there, nor on a 256 MiB file.
  set('--semi-space-growth-factor=1')
  // The same survival fills the old generation with objects that die soon after promotion, and
  // V8 lets it grow to three or four times what a full collection left: 22 MiB live but 78 MiB
  // of heap for 10,000 files at 50 ms.
  set('--heap-growing-percent=50')
}

/**
 * Once the number of files to move is known. A few big files need no close heap: their memory
 * is the buffer pool's, and collecting at half growth made a 512 MiB download spend about 12%
 * more client CPU (more full collections while chunks stream through). V8 reads the flag each
 * time it sets the next limit, and 0 gives it back its own growth factor.
 */
export function sizeHeapFor(files: number, set: SetFlags = setFlagsFromString): void {
  if (files < MANY_FILES) set('--heap-growing-percent=0')
}
