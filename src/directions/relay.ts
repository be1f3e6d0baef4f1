import * as core from '@actions/core'
import { probeHostKey } from '../connection/connect.js'
import { RelayPair, relayFiles } from '../engine/relay.js'
import type { SftpSession } from '../engine/session.js'
import { formatHostPort, type Settings } from '../inputs/settings.js'
import { Progress } from '../report/progress.js'
import type { RunReport } from '../report/types.js'
import { planRemote } from './download.js'
import { hostReport, openSession, sumSizes } from './sessions.js'

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
    core.info(`${destAddress} presented ${presented.keyType} ${presented.fingerprint}: pinned.`)
  })
  const from = await core.group(`Connect to ${formatHostPort(source.host, source.port)}`, () =>
    openSession(source, settings)
  )
  let to: SftpSession | undefined
  try {
    report.hosts.push(hostReport('source', source, from))
    const files = await planRemote(settings, from, report)
    to = await core.group(`Connect to ${destAddress}`, () => openSession(destination, settings))
    report.hosts.push(hostReport('target', destination, to))
    const progress = new Progress(sumSizes(files))
    let spare: RelayPair | undefined = new RelayPair(from, to)
    const connect = async (): Promise<RelayPair> => {
      const pair = spare
      spare = undefined
      if (pair && !pair.dead) return pair
      pair?.close()
      return new RelayPair(
        await openSession(source, settings),
        await openSession(destination, settings)
      )
    }
    const results = await core.group('Relay', () =>
      relayFiles(connect, settings.target, files, {
        concurrency: settings.concurrency,
        retries: settings.retries,
        onBytes: n => progress.add(n)
      })
    )
    report.files.push(...results)
  } finally {
    from.close()
    to?.close()
  }
}
