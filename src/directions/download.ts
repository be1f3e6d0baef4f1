import * as core from '@actions/core'
import { realpath } from 'node:fs/promises'
import * as path from 'node:path'
import { downloadFiles, realpathOfExisting } from '../engine/download.js'
import { InputError } from '../errors.js'
import { forLog } from '../escape.js'
import { sizeHeapFor } from '../heap.js'
import { ListingCache } from '../engine/listing-cache.js'
import type { SftpSession } from '../engine/session.js'
import { formatHostPort, type DownloadSettings, type RelaySettings } from '../inputs/settings.js'
import { listRemoteFiles, type RemoteFile } from '../plans/remote-files.js'
import { isInsideDir } from '../plans/safe-names.js'
import { describeAge, newestFile } from '../plans/select.js'
import { formatBytes, Progress } from '../report/progress.js'
import { PhaseTimes } from '../report/timings.js'
import { fileResult, type FileResult, type RunReport } from '../report/types.js'
import { SessionPool } from './session-pool.js'
import { hostReport, openSession } from './sessions.js'
import { sumSizes, transferOptions } from './transfer-options.js'

/** Downloads from the one server named by `host` into the local target directory. */
export async function runDownload(settings: DownloadSettings, report: RunReport): Promise<void> {
  await refuseTargetThroughLink(settings.workspace, settings.target)
  const server = settings.servers[0]
  const address = formatHostPort(server.host, server.port)
  const pool = new SessionPool(address, settings.retries, () => openSession(server, settings))
  const times = new PhaseTimes(address)
  try {
    const first = await core.group(`Connect to ${address}`, () => pool.first())
    report.hosts.push(hostReport('server', server, first))
    const files = await planRemote(settings, pool, report, times)
    if (settings.dryRun) {
      for (const row of plannedRows(files, settings.target)) report.files.push(row)
      return
    }
    // The local checks and folders before the first file overlap the extra connections' logins.
    ;(await pool.first()).expect(files.reduce((m, f) => Math.max(m, f.size), 0))
    const progress = new Progress(sumSizes(files))
    const results = await core.group('Download', () =>
      times.time('transfer', () =>
        downloadFiles(pool.connect, settings.target, files, {
          ...transferOptions(settings, progress, `downloading from ${address}`),
          times
        })
      )
    )
    for (const row of results) report.files.push(row)
  } finally {
    pool.closeAll()
    times.log()
  }
}

/**
 * A target inside the workspace must stay there once links are resolved: a checkout can hold a
 * link (`site -> /etc`) that would carry `target: site/out` anywhere. A target given outside the
 * workspace is the user's explicit choice and is left as written.
 */
async function refuseTargetThroughLink(workspace: string, target: string): Promise<void> {
  if (!isInsideDir(path.resolve(workspace), path.resolve(target))) return
  const [root, real] = await Promise.all([realpath(workspace), realpathOfExisting(target)])
  if (!isInsideDir(root, real)) {
    throw new InputError(
      'target',
      `'${target}' leads outside the workspace through a symbolic link (to ${real}). Download ` +
        'into a real directory, or name the outside directory itself.'
    )
  }
}

/** A dry run's report: what would be fetched, nothing changed. */
export function plannedRows(files: RemoteFile[], target: string): FileResult[] {
  return files.map(f => ({
    ...fileResult(f.path, `${target}/${f.rel}`, f.size, 'planned'),
    plan: 'create' as const
  }))
}

/**
 * Lists what `source` matches on the server, keeps only the newest file when asked, and records
 * refused names in the report. Shared by download and relay. A listing cut short by a dropped
 * connection carries on over a new one, without reading again the folders it had read.
 */
export function planRemote(
  settings: DownloadSettings | RelaySettings,
  pool: SessionPool<SftpSession>,
  report: RunReport,
  times: PhaseTimes
): Promise<RemoteFile[]> {
  return core.group('Plan', async () => {
    const cache = new ListingCache()
    const listed = await times.time('list', () =>
      pool.phase(`listing ${settings.source.include.join(', ')} on ${pool.address}`, session =>
        listRemoteFiles(settings.source, cache.on(session.main), m => core.warning(forLog(m)))
      )
    )
    const planning = performance.now()
    for (const r of listed.refused)
      report.files.push(fileResult(r.path, '', 0, 'refused', r.reason))
    let files = listed.files
    if (settings.select === 'newest') {
      const newest = newestFile(files)
      files = newest ? [newest] : []
      if (newest) {
        report.selected = { path: newest.path, size: newest.size, mtime: newest.mtime }
        core.info(
          `Selected the newest of ${listed.files.length} files: ${forLog(newest.path)} ` +
            `(${formatBytes(newest.size)}, modified ${describeAge(newest.mtime, Date.now())} ago).`
        )
      }
    }
    core.info(
      `${files.length} files, ${formatBytes(sumSizes(files))}, into ${forLog(settings.target)}`
    )
    times.add('plan', performance.now() - planning)
    sizeHeapFor(files.length)
    return files
  })
}
