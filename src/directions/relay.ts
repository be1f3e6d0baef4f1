import * as core from '@actions/core'
import { probeHostKey } from '../connection/connect.js'
import { RelayPair, relayFiles } from '../engine/relay.js'
import { forLog } from '../escape.js'
import { formatHostPort, type RelaySettings } from '../inputs/settings.js'
import { Progress } from '../report/progress.js'
import { PhaseTimes } from '../report/timings.js'
import type { RunReport } from '../report/types.js'
import type { SftpSession } from '../engine/session.js'
import { plannedRows, planRemote } from './download.js'
import { SessionPool } from './session-pool.js'
import { hostReport, openSession } from './sessions.js'
import { sumSizes, transferOptions } from './transfer-options.js'

/**
 * Server to server through the runner. The destination's host key is checked first, without
 * logging in, so a wrong destination pin fails before any credential is sent or any byte is read.
 */
export async function runRelay(settings: RelaySettings, report: RunReport): Promise<void> {
  const source = settings.servers[0]
  const destination = settings.targetServer
  const options = { timeoutMs: settings.timeoutMs, retries: settings.retries }
  const destAddress = formatHostPort(destination.host, destination.port)
  const srcAddress = formatHostPort(source.host, source.port)
  // The source's connection and key exchange run while the destination is checked; its login
  // waits for that check (the gate), so a wrong destination pin still reaches no login anywhere.
  const probe = probeHostKey(destination, options)
  probe.catch(() => undefined)
  const early = openSession(
    source,
    settings,
    probe.then(
      () => true,
      () => false
    )
  )
  early.catch(() => undefined)
  let head: Promise<SftpSession> | undefined = early
  const sources = new SessionPool(srcAddress, settings.retries, () => {
    const attempt = head ?? openSession(source, settings)
    head = undefined
    return attempt
  })
  const destinations = new SessionPool(destAddress, settings.retries, () =>
    openSession(destination, settings)
  )
  let pairs: SessionPool<RelayPair> | undefined
  let connecting: Promise<SftpSession> | undefined
  const times = new PhaseTimes(`${srcAddress} to ${destAddress}`)
  try {
    await core.group(`Check the host key of ${destAddress} (no login yet)`, async () => {
      const presented = await probe
      core.info(
        `${destAddress} presented ${forLog(presented.keyType)} ${presented.fingerprint}: pinned.`
      )
    })
    const from = await core.group(`Connect to ${srcAddress}`, () => sources.first())
    report.hosts.push(hostReport('source', source, from))
    // The destination logs in while the source is listed.
    connecting = settings.dryRun ? undefined : destinations.first()
    connecting?.catch(() => undefined)
    const files = await planRemote(settings, sources, report, times)
    if (settings.dryRun || !connecting) {
      for (const row of plannedRows(files, settings.target)) report.files.push(row)
      return
    }
    const to = await core.group(
      `Connect to ${destAddress}`,
      () => connecting as Promise<SftpSession>
    )
    report.hosts.push(hostReport('target', destination, to))
    const progress = new Progress(sumSizes(files))
    const what = `relaying from ${srcAddress} to ${destAddress}`
    const first = new RelayPair(sources.current, to)
    const pool = new SessionPool(
      what,
      settings.retries,
      async () => {
        const src = await openSession(source, settings)
        // A destination that fails to connect must not leave the source connection running.
        const dst = await openSession(destination, settings).catch((err: unknown) => {
          src.close()
          throw err
        })
        return new RelayPair(src, dst)
      },
      first
    )
    pairs = pool
    const results = await core.group('Relay', () =>
      times.time('transfer', () =>
        relayFiles(pool.connect, settings.target, files, {
          ...transferOptions(settings, progress, what),
          times
        })
      )
    )
    for (const row of results) report.files.push(row)
  } finally {
    times.log()
    pairs?.closeAll()
    sources.closeAll()
    destinations.closeAll()
    // A destination still logging in when planning failed is closed once it is up.
    void connecting?.then(
      () => destinations.closeAll(),
      () => undefined
    )
  }
}
