import * as core from '@actions/core'
import { connectVerifiedOnce, type VerifiedConnection } from '../connection/connect.js'
import { jumpWidening } from '../engine/extra-connections.js'
import { SftpSession } from '../engine/session.js'
import { forLog } from '../escape.js'
import { formatHostPort, type Endpoint, type Settings } from '../inputs/settings.js'
import type { HostReport } from '../report/types.js'
import { CHANNELS, HASH_CHANNELS, stallLimitMs } from './channels.js'

/**
 * Connects, verifies the host key (and the jump host's), logs in, opens the SFTP channels: one
 * attempt; a SessionPool retries it.
 */
export async function openSession(
  endpoint: Endpoint,
  settings: Settings,
  gate?: Promise<boolean>
): Promise<SftpSession> {
  const options = {
    timeoutMs: settings.timeoutMs,
    retries: 0,
    debug: core.isDebug() ? (m: string) => core.debug(forLog(m)) : undefined,
    ...(gate ? { gate } : {})
  }
  const connection = await connectVerifiedOnce(endpoint, options)
  logVerified(endpoint, connection)
  return SftpSession.open(connection, CHANNELS, stallLimitMs(settings.timeoutMs), {
    spare:
      settings.verify === 'sha256' || (settings.direction === 'upload' && settings.syncChecksum)
        ? HASH_CHANNELS
        : 0,
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
