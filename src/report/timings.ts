import * as core from '@actions/core'
import { whenSettled } from '../settle.js'

/**
 * Where one server's time went, by phase, for the step debug log. Whole phases (list, plan,
 * mkdir, transfer) are wall time; per-file steps (rename, verify) are summed over the files in
 * flight, so they can exceed the transfer's wall time and show what each file waits for.
 */
export class PhaseTimes {
  private readonly ms = new Map<string, { total: number; count: number }>()

  constructor(private readonly server: string) {}

  /** Not an async function: a rename per file is timed, and its frame was collector work. */
  time<T>(phase: string, work: () => Promise<T>): Promise<T> {
    const started = performance.now()
    return whenSettled(work, () => this.add(phase, performance.now() - started))
  }

  add(phase: string, ms: number): void {
    const entry = this.ms.get(phase) ?? { total: 0, count: 0 }
    entry.total += ms
    entry.count += 1
    this.ms.set(phase, entry)
  }

  /** One debug line per phase. */
  log(): void {
    for (const [phase, { total, count }] of this.ms) {
      const per = count > 1 ? ` (${count} times, ${(total / count).toFixed(1)} ms each)` : ''
      core.debug(`Timing ${this.server}: ${phase} ${Math.round(total)} ms${per}`)
    }
  }
}

/** Runs `work`, timed under `phase` when there are times to keep. */
export function timed<T>(
  times: PhaseTimes | undefined,
  phase: string,
  work: () => Promise<T>
): Promise<T> {
  return times ? times.time(phase, work) : work()
}
