import * as core from '@actions/core'
import { connectVerifiedOnce, type VerifiedConnection } from '../connection/connect.js'
import { jumpWidening, wideningVia, type ExtraConnections } from '../engine/extra-connections.js'
import { extraConnections, SftpSession } from '../engine/session.js'
import { forLog } from '../escape.js'
import {
  formatHostPort,
  type Endpoint,
  type Settings,
  type UploadSettings
} from '../inputs/settings.js'
import { sshDebug } from '../report/ssh-trace.js'
import type { HostReport } from '../report/types.js'
import { SessionPool } from './session-pool.js'
import { CHANNELS, HASH_CHANNELS, stallLimitMs } from './channels.js'

/**
 * Connects, verifies the host key (and the jump host's), logs in, opens the SFTP channels: one
 * attempt; a SessionPool retries it. With `bigFiles` (a big file is known to come, asked once the
 * bastion is logged in), the extra connections a jump host calls for start as soon as the bastion
 * is logged in, alongside this one, rather than round trips later once its session is up. With
 * `loginWhen`, credentials wait for it (see ConnectOptions.login).
 */
export async function openSession(
  endpoint: Endpoint,
  settings: Settings,
  gate?: Promise<boolean>,
  bigFiles: boolean | (() => boolean) = false,
  loginWhen?: Promise<boolean>
): Promise<SftpSession> {
  const options = {
    timeoutMs: settings.timeoutMs,
    retries: 0,
    debug: sshDebug(),
    ...(gate ? { gate } : {}),
    ...(loginWhen ? { login: loginWhen } : {})
  }
  const stallMs = stallLimitMs(settings.timeoutMs)
  const server = formatHostPort(endpoint.host, endpoint.port)
  let extras: ExtraConnections<SftpSession> | undefined
  // Each extra connection checks the server's key at once, but sends its credentials only once
  // this one logged in with them: a wrong key costs the server one failed login, not four.
  let loggedIn: (ok: boolean) => void = () => undefined
  const login = new Promise<boolean>(resolve => (loggedIn = resolve))
  const onJump = (via: VerifiedConnection): void => {
    if (extras || !(typeof bigFiles === 'function' ? bigFiles() : bigFiles)) return
    const widening = wideningVia(endpoint, via, { ...options, login })
    extras = extraConnections(widening, stallMs, { server, setupMs: settings.timeoutMs })
    extras.widen().catch(() => undefined)
  }
  try {
    const connection = await connectVerifiedOnce(
      endpoint,
      bigFiles ? { ...options, onJump } : options
    )
    loggedIn(true)
    logVerified(endpoint, connection)
    return await SftpSession.open(connection, CHANNELS, stallMs, {
      spare:
        settings.verify === 'sha256' || (settings.direction === 'upload' && settings.syncChecksum)
          ? HASH_CHANNELS
          : 0,
      server,
      setupMs: settings.timeoutMs,
      widen: jumpWidening(endpoint, connection, options),
      ...(extras ? { extras } : {})
    })
  } catch (err) {
    loggedIn(false)
    extras?.close()
    throw err
  }
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
      `${connection.pinLabel}. Logged in as ${forLog(endpoint.username)}.`
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

/** A server's connections, and the first one when it started before the source was read. */
export interface Connecting {
  pool: SessionPool<SftpSession>
  first?: Promise<SftpSession>
  /** Whether a big file is still to be sent: asked when a jump host's extras could start. */
  bigToSend: boolean
}

/**
 * The connections to one upload server. With `loginWhen`, the first starts now and sends its
 * credentials once that says yes (none if it says no).
 */
export function startConnecting(
  server: Endpoint,
  settings: UploadSettings,
  loginWhen: Promise<boolean> | undefined
): Connecting {
  const address = formatHostPort(server.host, server.port)
  const connecting: Connecting = {
    bigToSend: false,
    pool: new SessionPool(address, settings.retries, () =>
      openSession(server, settings, undefined, () => connecting.bigToSend, loginWhen)
    )
  }
  if (loginWhen) {
    connecting.first = connecting.pool.first()
    connecting.first.catch(() => undefined)
  }
  return connecting
}
