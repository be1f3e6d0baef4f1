import type ssh2 from 'ssh2'
import type { ConnectionError } from '../errors.js'
import { sftpStartFailure } from '../connection/classify.js'
import type { VerifiedConnection } from '../connection/connect.js'
import { stillAnswers } from '../connection/established.js'
import { joinChannelData } from '../connection/write-batching.js'
import type { ChannelBudget } from './channel-budget.js'
import type { Liveness } from './liveness.js'

/** A channel that did not start within `timeout`. */
class SetupTimeout extends Error {}

function openSftp(client: ssh2.Client, setupMs: number): Promise<ssh2.SFTPWrapper> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new SetupTimeout('the server did not open an SFTP channel in time')),
      setupMs
    )
    timer.unref()
    try {
      client.sftp((err, sftp) => {
        clearTimeout(timer)
        if (err) return reject(err)
        joinChannelData(sftp)
        resolve(sftp)
      })
    } catch (err) {
      clearTimeout(timer)
      reject(err)
    }
  })
}

/**
 * Why no SFTP channel started. ssh2 reports a subsystem request cut off by a dropped connection
 * exactly as one the server refused, so what decides is whether the connection is still there:
 * closed, or silent to a keepalive, means the network (retried); answering means the server.
 */
export async function whySftpFailed(
  connection: VerifiedConnection,
  liveness: Liveness,
  reason: Error | undefined,
  setupMs: number
): Promise<ConnectionError> {
  const err = reason ?? new Error('no channel')
  const timedOut = err instanceof SetupTimeout
  const answers = !liveness.lost && (await stillAnswers(connection.client, setupMs))
  return sftpStartFailure(err, {
    address: connection.address,
    timeoutMs: setupMs,
    lost: liveness.lost,
    timedOut,
    answers
  })
}

/** Opens an SFTP channel within the connection's session budget. */
export async function openCounted(
  client: ssh2.Client,
  sessions: ChannelBudget,
  setupMs: number
): Promise<ssh2.SFTPWrapper> {
  await sessions.take()
  try {
    const sftp = await openSftp(client, setupMs)
    sessions.opened()
    return sftp
  } catch (err) {
    sessions.cancel()
    throw err
  }
}
