import { ConnectionError, ExtraConnectionLost } from '../errors.js'

/**
 * Whether a connection still makes progress. ssh2 has no request timeout, and its keepalive
 * replies queue behind megabytes of file data on a slow uplink, so neither tells a slow link
 * from a dead one. What does: requests are waiting and no answer has come for a while.
 */
export class Liveness {
  /** Set once the connection dropped or was given up; no request is sent after that. */
  lost = false
  /** Why the connection must not be retried, if that is why it ended (a host-key failure). */
  fatal: Error | undefined
  /**
   * The quickest answer any request got, in ms: a round trip with no queue in front of it (the
   * setup's estimate, SftpSession's roundTripMs, includes the server starting its processes).
   */
  fastestAnswerMs = Infinity
  private lastAnswer = Date.now()
  private readonly waiting = new Set<(err: Error) => void>()
  private onLost: (() => void) | undefined

  /** `extra`: an extra connection of a session (extra-connections.ts), whose loss is its own. */
  constructor(readonly extra = false) {}

  /**
   * Registers a request; call answered() with the same function when its answer arrives. Not a
   * closure handed back: five requests per small file, tens of thousands of files. Returns when
   * it was sent, for answered() to learn the quickest round trip from.
   */
  begin(abort: (err: Error) => void): number {
    if (this.waiting.size === 0) this.lastAnswer = Date.now()
    this.waiting.add(abort)
    return performance.now()
  }

  /**
   * `sentAt` (from begin()) when the server answered it, not ssh2 refusing it or failing it on a
   * closed channel.
   */
  answered(abort: (err: Error) => void, sentAt?: number): void {
    this.waiting.delete(abort)
    this.heard(sentAt)
  }

  /**
   * An answer to one of several requests registered under one begin() (whole-read.ts), the
   * others still waiting; `sentAt` as for answered().
   */
  heard(sentAt?: number): void {
    this.lastAnswer = Date.now()
    if (sentAt !== undefined)
      this.fastestAnswerMs = Math.min(this.fastestAnswerMs, performance.now() - sentAt)
  }

  /** How long requests have waited without any answer; 0 when none is waiting. */
  stalledForMs(now = Date.now()): number {
    return this.waiting.size === 0 ? 0 : now - this.lastAnswer
  }

  /** `listener` runs once, after the first abortAll() has failed what was waiting. */
  whenLost(listener: () => void): void {
    this.onLost = listener
  }

  /**
   * Fails every waiting request at once: ssh2 may never call them back on a dead link. `error`
   * replaces the usual (retried) connection error, e.g. with a host-key failure that must not be.
   */
  abortAll(reason: string, error?: Error): void {
    const first = !this.lost
    this.lost = true
    this.fatal ??= error
    const err =
      error ?? (this.extra ? new ExtraConnectionLost(reason) : new ConnectionError(reason, true))
    for (const abort of [...this.waiting]) abort(err)
    this.waiting.clear()
    if (first) this.onLost?.()
  }
}
