import * as core from '@actions/core'
import { forLog } from '../escape.js'
import { ConnectionError } from '../errors.js'
import { backoffMs } from './backoff.js'
import { faultOf } from './classify.js'

/**
 * The one retry policy of a step: every phase (connecting, listing, planning, transferring,
 * finishing) on every hop retries a transient fault with the same backoff and the same number
 * of retries, says so in the log as it happens, and names itself when it gives up.
 */
export interface Attempts<T> {
  /** What is done where, e.g. "listing /backups on backup.example.com:22". */
  what: string
  /** Tries after the first one. */
  retries: number
  attempt: () => Promise<T>
  /** Whether a failure may pass if tried again (the network's fault, not a refusal). */
  transient: (err: unknown) => boolean
  /** Waits between attempts; injectable for tests. */
  sleep?: (ms: number) => Promise<void>
}

export async function withRetries<T>(plan: Attempts<T>): Promise<T> {
  const sleep = plan.sleep ?? ((ms: number) => new Promise<void>(r => setTimeout(r, ms)))
  const faults: unknown[] = []
  for (;;) {
    try {
      return await plan.attempt()
    } catch (err) {
      if (!plan.transient(err)) throw err
      faults.push(err)
      if (faults.length > plan.retries) throw gaveUp(plan.what, faults)
      const wait = backoffMs(faults.length)
      announceRetry(plan.what, err, wait, faults.length, plan.retries)
      await sleep(wait)
    }
  }
}

/** One log line per retry, as it happens. */
export function announceRetry(
  what: string,
  err: unknown,
  waitMs: number,
  retry: number,
  retries: number
): void {
  const fault = faultOf(err)
  core.warning(
    forLog(
      `${fault[0].toUpperCase()}${fault.slice(1)} while ${what} (${describe(err)}). ` +
        `Trying again in ${waitMs / 1000} s (retry ${retry} of ${retries}).`
    )
  )
}

/** The error after the last retry: the phase, the host and how often it failed. */
export function gaveUp(what: string, faults: unknown[]): ConnectionError {
  const last = faults[faults.length - 1]
  return new ConnectionError(
    `${what}: ${summarizeFaults(faults)}; gave up. Last error: ${describe(last)}`,
    false,
    { cause: last }
  )
}

/** "connection lost 4 times", or "failed 4 times (connection lost 3 times, timed out once)". */
export function summarizeFaults(faults: unknown[]): string {
  const counts = new Map<string, number>()
  for (const fault of faults.map(faultOf)) counts.set(fault, (counts.get(fault) ?? 0) + 1)
  const parts = [...counts].map(([fault, n]) => `${fault} ${times(n)}`)
  return parts.length === 1 ? parts[0] : `failed ${times(faults.length)} (${parts.join(', ')})`
}

function times(n: number): string {
  return n === 1 ? 'once' : `${n} times`
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
