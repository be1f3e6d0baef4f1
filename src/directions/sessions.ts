import * as core from '@actions/core'
import { connectVerified, type VerifiedConnection } from '../connection/connect.js'
import { SftpSession } from '../engine/session.js'
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

export type Connect = () => Promise<SftpSession>

/**
 * How long requests may wait with no answer at all before the connection counts as stalled:
 * twice `timeout`, between 30 s (one slow server operation, such as closing a big file on
 * network storage, must fit) and a minute. A slow link still answers every few seconds.
 */
export function stallLimitMs(timeoutMs: number): number {
  return Math.min(60_000, Math.max(30_000, 2 * timeoutMs))
}

/** Connects, verifies the host key (and the jump host's), logs in, opens the SFTP channels. */
export async function openSession(
  endpoint: Endpoint,
  settings: Settings,
  retries = settings.retries
): Promise<SftpSession> {
  const connection = await connectVerified(endpoint, {
    timeoutMs: settings.timeoutMs,
    retries,
    debug: core.isDebug() ? (m: string) => core.debug(m) : undefined
  })
  logVerified(endpoint, connection)
  return SftpSession.open(connection, CHANNELS, stallLimitMs(settings.timeoutMs), {
    spare: settings.verify === 'sha256' ? HASH_CHANNELS : 0,
    server: formatHostPort(endpoint.host, endpoint.port)
  })
}

function logVerified(endpoint: Endpoint, connection: VerifiedConnection): void {
  if (connection.jump && endpoint.jump) {
    const jump = formatHostPort(endpoint.jump.host, endpoint.jump.port)
    core.info(
      `Jump host ${jump} verified: ${connection.jump.keyType} ${connection.jump.fingerprint} ` +
        `matches pin ${connection.jump.pinLabel}.`
    )
  }
  core.info(
    `Host key of ${formatHostPort(endpoint.host, endpoint.port)} verified: ${connection.keyType} ` +
      `${connection.fingerprint} matches pin ${connection.pinLabel}. Logged in as ${endpoint.username}.`
  )
}

/**
 * The connections one server gets during a run: the first (used for planning) is handed out
 * again while it is alive, fresh ones after a drop. `current` is the one to finish work on;
 * `closeAll` ends every one of them.
 */
export class SessionPool<S extends { dead: boolean; close(): void }> {
  private readonly opened: S[]
  private spare: S | undefined

  constructor(
    private latest: S,
    private readonly open: () => Promise<S>
  ) {
    this.opened = [latest]
    this.spare = latest
  }

  get current(): S {
    return this.latest
  }

  readonly connect = async (): Promise<S> => {
    const spare = this.spare
    this.spare = undefined
    if (spare && !spare.dead) return spare
    this.latest = await this.open()
    this.opened.push(this.latest)
    return this.latest
  }

  closeAll(): void {
    for (const session of this.opened) session.close()
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
export function transferOptions(settings: Settings, progress: Progress): TransferOptions {
  return {
    concurrency: settings.concurrency,
    retries: settings.retries,
    verifySha256: settings.verify === 'sha256',
    onBytes: n => progress.add(n)
  }
}

export function sumSizes(files: Array<{ size: number }>): number {
  return files.reduce((sum, f) => sum + f.size, 0)
}
