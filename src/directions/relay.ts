import * as core from '@actions/core'
import { probeHostKey } from '../connection/connect.js'
import { RelayPair, relayFiles } from '../engine/relay.js'
import type { SftpSession } from '../engine/session.js'
import { forLog } from '../escape.js'
import { formatHostPort, type Settings } from '../inputs/settings.js'
import { Progress } from '../report/progress.js'
import type { RunReport } from '../report/types.js'
import { plannedRows, planRemote } from './download.js'
import { hostReport, openSession, SessionPool, sumSizes, transferOptions } from './sessions.js'

/**
 * Server to server through the runner. The destination's host key is checked first, without
 * logging in, so a wrong destination pin fails before any credential is sent or any byte is read.
 */
export async function runRelay(settings: Settings, report: RunReport): Promise<void> {
  const source = settings.servers[0]
  const destination = settings.targetServer
  if (!destination) throw new Error('relay without a destination server')
  const options = { timeoutMs: settings.timeoutMs, retries: settings.retries }
  const destAddress = formatHostPort(destination.host, destination.port)
  await core.group(`Check the host key of ${destAddress} (no login yet)`, async () => {
    const presented = await probeHostKey(destination, options)
    core.info(
      `${destAddress} presented ${forLog(presented.keyType)} ${presented.fingerprint}: pinned.`
    )
  })
  const from = await core.group(`Connect to ${formatHostPort(source.host, source.port)}`, () =>
    openSession(source, settings)
  )
  let to: SftpSession | undefined
  let pairs: SessionPool<RelayPair> | undefined
  try {
    report.hosts.push(hostReport('source', source, from))
    const files = await planRemote(settings, from, report)
    if (settings.dryRun) {
      report.files.push(...plannedRows(files, settings.target))
      return
    }
    to = await core.group(`Connect to ${destAddress}`, () => openSession(destination, settings))
    report.hosts.push(hostReport('target', destination, to))
    const progress = new Progress(sumSizes(files))
    const pool = new SessionPool(new RelayPair(from, to), async () => {
      const src = await openSession(source, settings, 0)
      // A destination that fails to connect must not leave the source connection running.
      const dst = await openSession(destination, settings, 0).catch((err: unknown) => {
        src.close()
        throw err
      })
      return new RelayPair(src, dst)
    })
    pairs = pool
    const results = await core.group('Relay', () =>
      relayFiles(pool.connect, settings.target, files, transferOptions(settings, progress))
    )
    report.files.push(...results)
  } finally {
    pairs?.closeAll()
    from.close()
    to?.close()
  }
}
