import * as core from '@actions/core'
import { forLog } from '../escape.js'
import { releaseDir } from '../engine/release.js'
import { planRollback, rollBack } from '../engine/rollback.js'
import { formatHostPort, type Endpoint, type UploadSettings } from '../inputs/settings.js'
import type { RunReport } from '../report/types.js'
import { SessionPool } from './session-pool.js'
import { hostReport, openSession } from './sessions.js'

/**
 * `rollback: true`: on every server, `target/current` goes back to the release before the live
 * one. Nothing is uploaded and nothing is removed.
 */
export async function runRollback(settings: UploadSettings, report: RunReport): Promise<void> {
  const fanOut = settings.servers.length > 1
  const results = await Promise.allSettled(
    settings.servers.map(server => rollBackOn(server, settings, report, fanOut))
  )
  const failed = results.find(r => r.status === 'rejected')
  if (failed?.status === 'rejected') throw failed.reason
}

async function rollBackOn(
  server: Endpoint,
  settings: UploadSettings,
  report: RunReport,
  fanOut: boolean
): Promise<void> {
  const address = formatHostPort(server.host, server.port)
  const group = <T>(name: string, fn: () => Promise<T>) => (fanOut ? fn() : core.group(name, fn))
  const pool = new SessionPool(address, settings.retries, () => openSession(server, settings))
  try {
    const first = await group(`Connect to ${address}`, () => pool.first())
    report.hosts.push(hostReport('server', server, first))
    const place = `${settings.target} on ${address}`
    const plan = await pool.phase(`planning the rollback in ${place}`, session =>
      planRollback(session, settings.target)
    )
    const where = fanOut ? `${address}: ` : ''
    const switchText = `${settings.target}/current from releases/${plan.from} to releases/${plan.to}`
    const done = () => {
      report.releasePath = releaseDir(settings.target, plan.to)
      report.rollback = { from: plan.from, to: plan.to }
    }
    if (settings.dryRun) {
      done()
      core.info(forLog(`${where}Dry run: would switch ${switchText}. Nothing was changed.`))
      return
    }
    await group('Roll back', () =>
      pool.phase(`rolling back in ${place}`, session => rollBack(session, settings.target, plan))
    )
    done()
    core.info(
      forLog(
        `${where}Rolled back: switched ${switchText}; releases/${plan.from} stays until pruning removes it.`
      )
    )
  } finally {
    pool.closeAll()
  }
}
