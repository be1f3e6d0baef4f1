import * as core from '@actions/core'
import {
  connectViaOnce,
  type ConnectOptions,
  type VerifiedConnection
} from '../connection/connect.js'
import { HostKeyError } from '../errors.js'
import { forLog } from '../escape.js'
import type { Endpoint } from '../inputs/endpoints.js'
import type { SftpChannel } from './sftp.js'

/**
 * Behind a jump host every channel of a connection rides one forwarded channel of the bastion,
 * whose own fixed 2 MiB window then caps the whole connection per round trip, however many SFTP
 * channels run inside it. More connections, each over its own forwarded channel, lift that cap.
 */
export interface Widening {
  /** One more verified, logged-in connection to the same server: one attempt, no retry. */
  connect: () => Promise<VerifiedConnection>
  /**
   * Connections to add at most. Kept small: the server's MaxStartups (stock 10:30:100) drops
   * logins at random once several are unauthenticated at once.
   */
  count: number
}

/** Connections a big file may use to one server behind a jump host, the first included. */
export const CONNECTIONS_THROUGH_JUMP = 4

/**
 * How a session reaches `endpoint` again over the bastion `connection` already runs through:
 * same pins, same credentials. Undefined for a direct connection, which needs no more.
 */
export function jumpWidening(
  endpoint: Endpoint,
  connection: VerifiedConnection,
  options: ConnectOptions
): Widening | undefined {
  return connection.jump ? wideningVia(endpoint, connection.jump, options) : undefined
}

/** How a session reaches `endpoint` again over the logged-in bastion connection `via`. */
export function wideningVia(
  endpoint: Endpoint,
  via: VerifiedConnection,
  options: ConnectOptions
): Widening {
  return {
    count: CONNECTIONS_THROUGH_JUMP - 1,
    connect: () => connectViaOnce(endpoint, via, { ...options, retries: 0 })
  }
}

/** What this module needs of an SftpSession (kept apart so sessions can be stood in for). */
export interface Lanes {
  readonly channels: SftpChannel[]
  readonly dead: boolean
  readonly fatal: Error | undefined
  kill(reason?: string): void
  close(): void
}

/** SFTP channels each extra connection opens; a server that allows fewer gets fewer. */
export const EXTRA_CHANNELS = 4

/**
 * The extra connections of one session, opened the first time a big file needs them. A refused
 * connection, forward or login means "use fewer", never a failure; a host key that matches no
 * pin fails closed, as on the first connection (the verifier refused it before any credential
 * was sent). They close with their session; one lost only leaves the session's lanes.
 */
export class ExtraConnections<S extends Lanes> {
  private opening: Promise<void> | undefined
  private readonly opened: S[] = []
  private ended = false
  /** A failure found before a session took these connections over (see attach). */
  private failed: { reason: string; err: Error } | undefined

  constructor(
    private readonly widening: Widening | undefined,
    /** Starts the SFTP channels on a new connection (ends the connection if it cannot). */
    private readonly start: (connection: VerifiedConnection) => Promise<S>,
    /** Marks the whole session as ended for good, e.g. on a host-key mismatch. */
    private fail?: (reason: string, err: Error) => void
  ) {}

  /**
   * Hands these connections to the session they serve: opened early (while the session's own
   * connection was still logging in), they may have failed before it existed.
   */
  attach(fail: (reason: string, err: Error) => void): void {
    this.fail = fail
    if (this.failed) fail(this.failed.reason, this.failed.err)
  }

  /** Opens the extra connections once; later calls wait for the same opening. */
  widen(): Promise<void> {
    if (!this.widening || this.widening.count <= 0 || this.ended) return Promise.resolve()
    this.opening ??= this.openAll(this.widening)
    return this.opening
  }

  get sessions(): readonly S[] {
    return this.opened
  }

  get dead(): boolean {
    return this.opened.some(s => s.dead)
  }

  get fatal(): Error | undefined {
    return this.opened.find(s => s.fatal)?.fatal
  }

  kill(reason?: string): void {
    this.ended = true
    for (const session of this.opened) session.kill(reason)
  }

  close(): void {
    this.ended = true
    for (const session of this.opened) session.close()
  }

  private async openAll(widening: Widening): Promise<void> {
    core.debug(`Opening ${widening.count} extra connections through the jump host for big files.`)
    const results = await Promise.allSettled(
      Array.from({ length: widening.count }, async () => this.start(await widening.connect()))
    )
    const mismatch = results.find(
      (r): r is PromiseRejectedResult => r.status === 'rejected' && r.reason instanceof HostKeyError
    )?.reason as HostKeyError | undefined
    const refused: string[] = []
    for (const result of results) {
      if (result.status === 'rejected') refused.push(describe(result.reason))
      // The session ended while these were opening: nothing may keep the process alive.
      else if (this.ended || mismatch) result.value.close()
      else this.opened.push(result.value)
    }
    if (mismatch) {
      if (this.fail) this.fail(mismatch.message, mismatch)
      else this.failed = { reason: mismatch.message, err: mismatch }
      throw mismatch
    }
    if (refused.length > 0) {
      core.debug(
        `${refused.length} of ${widening.count} extra connections not made (using fewer): ` +
          forLog(refused[0])
      )
    }
    if (this.opened.length > 0) {
      core.info(
        `Big files spread over ${this.opened.length + 1} connections through the jump host.`
      )
    }
  }
}

/**
 * Channels of several connections, taken in turns (first of each, then second of each, ...), so
 * that a file's consecutive lanes land on different connections, and so different windows.
 */
export function interleave(groups: ReadonlyArray<readonly SftpChannel[]>): SftpChannel[] {
  const longest = Math.max(0, ...groups.map(g => g.length))
  const out: SftpChannel[] = []
  for (let i = 0; i < longest; i++) for (const g of groups) if (i < g.length) out.push(g[i])
  return out
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
