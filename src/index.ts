import { applyHeapFlags } from './engine/heap-flags.js'
import { run } from './main.js'

// Hundreds of small files in flight keep every request's objects alive for a round trip, and V8
// answers that survival by growing its young generation up to 16 MiB semispaces: about 25 MiB of
// peak memory for 10,000 files (168 MiB instead of 143). Kept at its first size, it cost no
// measurable CPU there, nor on a 256 MiB file.
// The same survival fills the old generation with objects that die soon after promotion, and V8
// lets it grow to about three or four times what a full collection left before collecting again:
// 22 MiB live but 78 MiB of heap for 10,000 files at 50 ms, about 100 MiB of garbage at the peak
// of a 50,000-file deploy. Grown by half at most, those peaks fell from 160 to 106 MiB and from
// 239 to 137 MiB, for more but shorter full collections, within the noise of client CPU. Both
// flags are set before any work, so they hold throughout (see engine/heap-flags.ts).
applyHeapFlags()
await run()
