import { setFlagsFromString } from 'node:v8'

/**
 * V8 settings for the step's memory (the why of each is in src/index.ts). V8's flags are
 * process-wide, and starting another isolate (the landing thread) puts the semi-space growth
 * factor back to its default, for the main thread too: measured, the main thread's young
 * generation then grew again and a 10,000-file pull peaked at 140 MiB instead of 100. So the
 * landing thread sets them again as the first thing it does.
 */
export const HEAP_FLAGS = ['--semi-space-growth-factor=1', '--heap-growing-percent=50']

export function applyHeapFlags(): void {
  for (const flag of HEAP_FLAGS) setFlagsFromString(flag)
}
