import * as core from '@actions/core'
import { connectVerifiedOnce, type VerifiedConnection } from '../connection/connect.js'
import { withRetries } from '../connection/retry-policy.js'
import { ConnectionError } from '../errors.js'
import { isTransient, killIfNetwork, type Reconnectable } from '../engine/retry.js'
import { jumpWidening } from '../engine/extra-connections.js'
import { SftpSession } from '../engine/session.js'
import { forLog } from '../escape.js'
import { formatHostPort, type Endpoint, type Settings } from '../inputs/settings.js'
import type { TransferOptions } from '../engine/upload.js'
import type { Progress } from '../report/progress.js'
import type { HostReport } from '../report/types.js'

/** SFTP channels opened per connection; servers that allow fewer get fewer. */
export const CHANNELS = 8

/**
 * With `verify: sha256`, session slots kept free beside the SFTP channels for the server's
 * `sha256sum`: on stock OpenSSH (MaxSessions 10) that is 6 SFTP channels and 4 hashes at once.
 */
export const HASH_CHANNELS = 4

/**
 * How long requests may wait with no answer at all before the connection counts as stalled:
 * twice `timeout`, between 30 s (one slow server operation, such as closing a big file on
 * network storage, must fit) and a minute. A slow link still answers every few seconds.
 */
export function stallLimitMs(timeoutMs: number): number {
  return Math.min(60_000, Math.max(30_000, 2 * timeoutMs))
}

/**
 * Connects, verifies the host key (and the jump host's), logs in, opens the SFTP channels: one
 * attempt; a SessionPool retries it.
 */
export async function openSession(endpoint: Endpoint, settings: Settings): Promise<SftpSession> {
  const options = {
    timeoutMs: settings.timeoutMs,
    retries: 0,
    debug: core.isDebug() ? (m: string) => core.debug(forLog(m)) : undefined
  }
  const connection = await connectVerifiedOnce(endpoint, options)
  logVerified(endpoint, connection)
  return SftpSession.open(connection, CHANNELS, stallLimitMs(settings.timeoutMs), {
    spare: settings.verify === 'sha256' || settings.syncChecksum ? HASH_CHANNELS : 0,
    server: formatHostPort(endpoint.host, endpoint.port),
    setupMs: settings.timeoutMs,
    widen: jumpWidening(endpoint, connection, options)
  })
}

function logVerified(endpoint: Endpoint, connection: VerifiedConnection): void {
  if (connection.jump && endpoint.jump) {
    const jump = formatHostPort(endpoint.jump.host, endpoint.jump.port)
    core.info(
      `Jump host ${jump} verified: ${forLog(connection.jump.keyType)} ` +
        `${connection.jump.fingerprint} matches pin ${connection.jump.pinLabel}.`
    )
  }
  core.info(
    `Host key of ${formatHostPort(endpoint.host, endpoint.port)} verified: ` +
      `${forLog(connection.keyType)} ${connection.fingerprint} matches pin ` +
      `${connection.pinLabel}. Logged in as ${endpoint.username}.`
  )
}

/**
 * The connections one server (or a relay's pair of servers) gets during a step, and the step's
 * one retry policy: every phase runs on the live connection, and a transient fault costs a
 * reconnection with backoff, up to `retries` per phase, wherever it happens. `current` is the
 * connection to finish work on; `closeAll` ends every one of them.
 */
export class SessionPool<S extends Reconnectable> {
  private readonly opened: S[] = []
  private latest: S | undefined

  constructor(
    /** `host:port`, as the log and errors name it. */
    readonly address: string,
    private readonly retries: number,
    private readonly open: () => Promise<S>,
    first?: S
  ) {
    if (first) this.adopt(first)
  }

  get current(): S {
    if (!this.latest) throw new Error(`no connection to ${this.address} yet`)
    return this.latest
  }

  /** A live connection: the last one while it is up, else one new attempt (callers retry). */
  readonly connect = async (): Promise<S> => {
    if (this.latest && !this.latest.dead) return this.latest
    return this.adopt(await this.open())
  }

  /** Connects (key exchange, login, SFTP start), retrying as any phase does. */
  first(): Promise<S> {
    return this.phase(`connecting to ${this.address}`, async session => session)
  }

  /**
   * Runs `work` on a live connection. After a transient fault the connection is given up and
   * `work` runs again on a new one; what it already finished it must keep itself.
   */
  phase<T>(what: string, work: (session: S) => Promise<T>): Promise<T> {
    return withRetries({
      what,
      retries: this.retries,
      attempt: async () => {
        const session = await this.connect()
        return work(session).catch(killIfNetwork(session))
      },
      // Once the server was reached, a refused or timed-out reconnection is a server
      // restarting, not a wrong address. Host-key and login failures are never ConnectionErrors.
      transient: err =>
        (this.opened.length > 0 && err instanceof ConnectionError) || isTransient(err, this.latest)
    })
  }

  closeAll(): void {
    for (const session of this.opened) session.close()
  }

  private adopt(session: S): S {
    this.opened.push(session)
    this.latest = session
    return session
  }
}

export function hostReport(
  role: HostReport['role'],
  endpoint: Endpoint,
  session: SftpSession
): HostReport {
  const { connection } = session
  const report: HostReport = {
    role,
    address: formatHostPort(endpoint.host, endpoint.port),
    keyType: connection.keyType,
    fingerprint: connection.fingerprint,
    pinLabel: connection.pinLabel
  }
  if (connection.jump && endpoint.jump) {
    report.via = `${formatHostPort(endpoint.jump.host, endpoint.jump.port)} (${connection.jump.fingerprint})`
  }
  return report
}

/** The engine's options every direction passes the same way. */
export function transferOptions(
  settings: Settings,
  progress: Progress,
  what?: string
): TransferOptions {
  return {
    what,
    concurrency: settings.concurrency,
    retries: settings.retries,
    verifySha256: settings.verify === 'sha256',
    preserve: settings.attributes,
    onBytes: n => progress.add(n)
  }
}

export function sumSizes(files: Array<{ size: number }>): number {
  return files.reduce((sum, f) => sum + f.size, 0)
}
