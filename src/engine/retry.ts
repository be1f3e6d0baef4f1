import * as core from '@actions/core'
import { forLog } from '../escape.js'
import { ActionError, ConnectionError, ExtraConnectionLost } from '../errors.js'
import { backoffMs } from '../connection/backoff.js'
import { isNetworkMessage } from '../connection/classify.js'
import { announceRetry, gaveUp } from '../connection/retry-policy.js'
import type { FileResult } from '../report/types.js'
import { CONNECTIONS_THROUGH_JUMP } from './extra-connections.js'

/**
 * Times one file is run again on the same session after an extra connection it spread over was
 * lost. Each loss drops that connection for good, so there are never more than these.
 */
const EXTRA_LOSSES = CONNECTIONS_THROUGH_JUMP - 1

/** What the retry loop needs from a connection (or a pair, for relays). */
export interface Reconnectable {
  /** True once the connection dropped. */
  readonly dead: boolean
  /** Set when the connection ended for a reason no reconnect may paper over (a host-key failure). */
  readonly fatal?: Error
  /** Files the connection can keep open at once (the server's handle limits), if it says. */
  readonly filesInFlight?: number
  /** Tear down a connection that stopped answering. */
  kill(): void
  close(): void
}

export interface RetryPlan<J, S extends Reconnectable> {
  jobs: J[]
  /** What the jobs do where, for the log and the final error ("uploading to HOST:PORT"). */
  what?: string
  /** Reconnections allowed after the first connection. */
  retries: number
  concurrency: number
  /**
   * Connects and verifies; throws HostKeyError/AuthenticationError, which are never retried.
   * The caller owns what it hands out: a dropped connection is closed here, a healthy one is not.
   */
  connect: () => Promise<S>
  /** Runs once per connection before its jobs (e.g. creating directories). */
  prepare?: (session: S, jobs: J[]) => Promise<void>
  /**
   * Moves one file. Throws on a network failure; returns a failed result for a file's own fault.
   * `release` gives the job's place to the next one while this one finishes (its rename): the
   * place bounds what is open on the server, and a rename holds nothing open.
   */
  run: (session: S, job: J, release: () => void) => Promise<FileResult>
  /** Runs once after every job finished on a connection that is still up (e.g. tidying). */
  finish?: (session: S) => Promise<void>
  /** The result to report for a job that never completed. */
  abandoned: (job: J, reason: string) => FileResult
  /** Waits between attempts; injectable for tests. */
  sleep?: (ms: number) => Promise<void>
}

/**
 * Runs jobs over a connection, reconnecting after network failures and carrying on with the jobs
 * that did not finish. Files already done are never redone; callers resume partial files.
 */
export async function runWithRetries<J, S extends Reconnectable>(
  plan: RetryPlan<J, S>
): Promise<FileResult[]> {
  const sleep = plan.sleep ?? ((ms: number) => new Promise<void>(r => setTimeout(r, ms)))
  const what = plan.what ?? 'transferring files'
  const results: FileResult[] = []
  const faults: unknown[] = []
  let pending = plan.jobs
  for (let attempt = 0; pending.length > 0; attempt++) {
    if (attempt > 0) {
      if (attempt > plan.retries) break
      const wait = backoffMs(attempt)
      announceRetry(what, faults[faults.length - 1], wait, attempt, plan.retries)
      await sleep(wait)
    }
    const round = await runRound(plan, pending).catch((err: unknown): Round<J> => {
      // Reconnecting after a drop: a refused or timed-out connection may be a server restarting.
      if (!(err instanceof ConnectionError) && !isTransient(err, undefined)) throw err
      return { done: [], pending, error: err }
    })
    for (const r of round.done) results.push(r)
    pending = round.pending
    if (round.error !== undefined) faults.push(round.error)
    // The server's identity failed mid-session: no reconnect may paper over that. What landed
    // stays reported; the rest fails with the reason.
    if (round.fatal) {
      const reason = describe(round.error)
      return [...results, ...pending.map(job => plan.abandoned(job, reason))]
    }
  }
  const reason = gaveUp(what, faults).message
  return [...results, ...pending.map(job => plan.abandoned(job, reason))]
}

interface Round<J> {
  done: FileResult[]
  pending: J[]
  error?: unknown
  /** The session ended for a reason no retry may follow (see Reconnectable.fatal). */
  fatal?: boolean
}

async function runRound<J, S extends Reconnectable>(
  plan: RetryPlan<J, S>,
  jobs: J[]
): Promise<Round<J>> {
  const session = await plan.connect()
  const round: Round<J> = { done: [], pending: [] }
  try {
    await plan.prepare?.(session, jobs)
    // A few workers take the jobs in turn: a promise and closure per job made up front cost
    // memory by the file (50,000 files), however few of them run at once.
    const width = Math.max(1, Math.min(plan.concurrency, session.filesInFlight ?? Infinity))
    core.debug(`Files at once: ${width}`)
    // Jobs that gave their place back before finishing; all are awaited before the round ends.
    const finishing = new Set<Promise<void>>()
    let failed: { err: unknown } | undefined
    const settle = (job: J, err: unknown): void => {
      if (session.fatal) {
        round.error = session.fatal
        round.fatal = true
        round.pending.push(job)
        return
      }
      if (!isTransient(err, session)) {
        failed ??= { err }
        return
      }
      round.error ??= err
      round.pending.push(job)
      session.kill()
    }
    let next = 0
    let shown = width
    const work = async (_: unknown, worker: number): Promise<void> => {
      while (next < jobs.length && failed === undefined) {
        // The width narrows when the round-trip estimate falls below a near-link bound
        // (filesAtOnce): a round that began wider sheds its extra workers as their files end.
        const allowed = session.filesInFlight ?? Infinity
        if (worker > 0 && worker >= allowed) {
          if (allowed < shown) core.debug(`Files at once: narrowed to ${allowed}`)
          shown = Math.min(shown, allowed)
          return
        }
        const job = jobs[next++]
        if (round.error !== undefined) {
          round.pending.push(job)
          continue
        }
        // The next job starts when this one gives its place back or ends, whichever is first.
        // One `then` settles it (no `finally`): promises per job are collector work, 50,000 times.
        let wake = stillAsleep
        const turn = new Promise<void>(resolve => (wake = resolve))
        const running: Promise<void> = runJob(plan, session, job, wake).then(
          result => {
            round.done.push(result)
            finishing.delete(running)
            wake()
          },
          (err: unknown) => {
            settle(job, err)
            finishing.delete(running)
            wake()
          }
        )
        finishing.add(running)
        await turn
      }
    }
    await Promise.all(Array.from({ length: Math.min(width, jobs.length) }, work))
    await Promise.all([...finishing])
    if (failed) throw failed.err
  } catch (err) {
    session.close()
    if (session.fatal) return { done: [], pending: jobs, error: session.fatal, fatal: true }
    // Jobs catch their own network errors, so what lands here failed before any job ran.
    if (!isTransient(err, session)) throw err
    return { done: [], pending: jobs, error: err }
  }
  if (round.pending.length === 0 && plan.finish) {
    // Tidying up is best effort: its failure must not send finished files again.
    await plan
      .finish(session)
      .catch((err: Error) => core.warning(`Clean-up skipped: ${forLog(err.message)}`))
  }
  // A connection that finished its work stays open for the caller (deletes, release switch);
  // whoever handed it out through `connect` closes it.
  if (round.error !== undefined) session.close()
  return round
}

/** What a job's wake-up is until its promise's executor ran (at once): not a closure per job. */
function stillAsleep(): void {}

/**
 * Runs one job. A file that lost an extra connection (behind a jump host) goes on at once over
 * the session's remaining lanes, resuming where it stopped: the session's own connection works,
 * and giving it up would cost a reconnect and every other file's progress.
 */
async function runJob<J, S extends Reconnectable>(
  plan: RetryPlan<J, S>,
  session: S,
  job: J,
  release: () => void
): Promise<FileResult> {
  for (let losses = 0; ; losses++) {
    try {
      return await plan.run(session, job, release)
    } catch (err) {
      if (!extraOnly(err, session) || losses >= EXTRA_LOSSES) throw err
      core.debug(`Going on without a lost extra connection: ${forLog(describe(err))}`)
    }
  }
}

/** Whether `err` is an extra connection's loss alone, the session's own connection being up. */
function extraOnly(err: unknown, session: Reconnectable): boolean {
  return err instanceof ExtraConnectionLost && !session.dead && session.fatal === undefined
}

/**
 * For a `.catch` around work on a session: a network failure kills the connection at once, so
 * closing handles afterwards does not wait for a server that stopped answering. A lost extra
 * connection has dropped itself already (sftp-tracked.ts, session.ts); the session's own
 * connection is kept.
 */
export function killIfNetwork(session: Reconnectable): (err: unknown) => never {
  return err => {
    if (killsSession(err, session)) session.kill()
    throw err
  }
}

/** Whether `err` means the session's own connection is in trouble (see killIfNetwork). */
export function killsSession(err: unknown, session: Reconnectable): boolean {
  return isTransient(err, session) && !extraOnly(err, session)
}

/** Network trouble is worth a reconnect; a file's own problem (permissions, size) is not. */
export function isTransient(err: unknown, session: Reconnectable | undefined): boolean {
  if (err instanceof ConnectionError) return err.transient
  if (err instanceof ActionError) return false
  if (session?.dead) return true
  const level = (err as { level?: string } | null | undefined)?.level
  if (level === 'client-socket' || level === 'client-timeout') return true
  return isNetworkMessage(describe(err))
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
