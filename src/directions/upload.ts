import * as core from '@actions/core'
import { uploadFiles } from '../engine/upload.js'
import type { SftpSession } from '../engine/session.js'
import { formatHostPort, type Endpoint, type Settings } from '../inputs/settings.js'
import { listLocalFiles, type LocalFile } from '../plans/local-files.js'
import { formatBytes, Progress } from '../report/progress.js'
import { fileResult, type RunReport } from '../report/types.js'
import { hostReport, openSession, reusing, sumSizes } from './sessions.js'

/**
 * Uploads to every server named by `host` in parallel. One server failing does not stop the
 * others; the report says which server got what.
 */
export async function runUpload(settings: Settings, report: RunReport): Promise<void> {
  // Local sources are checked before connecting: a typo in 'source' should not cost a login.
  const files = await core.group('Plan', async () => {
    const found = await listLocalFiles(settings.source, settings.workspace, m => core.warning(m))
    core.info(`${found.length} files, ${formatBytes(sumSizes(found))}, into ${settings.target}`)
    return found
  })
  const progress = new Progress(sumSizes(files) * settings.servers.length)
  const fanOut = settings.servers.length > 1
  await Promise.all(
    settings.servers.map(server => uploadTo(server, settings, files, progress, report, fanOut))
  )
}

async function uploadTo(
  server: Endpoint,
  settings: Settings,
  files: LocalFile[],
  progress: Progress,
  report: RunReport,
  fanOut: boolean
): Promise<void> {
  const address = formatHostPort(server.host, server.port)
  let first: SftpSession
  try {
    // Log groups cannot nest or interleave, so parallel fan-out connections log ungrouped.
    const connect = () => openSession(server, settings)
    first = await (fanOut ? connect() : core.group(`Connect to ${address}`, connect))
  } catch (err) {
    if (!fanOut) throw err
    // With several servers, the others still get the upload; this one is reported as failed.
    core.error(`${address}: ${(err as Error).message}`, { title: 'Server skipped' })
    report.hosts.push({
      role: 'server',
      address,
      keyType: '',
      fingerprint: '',
      pinLabel: '',
      error: (err as Error).message
    })
    for (const f of files) {
      report.files.push({
        ...fileResult(f.path, '', f.size, 'failed', (err as Error).message),
        server: address
      })
    }
    return
  }
  report.hosts.push(hostReport('server', server, first))
  try {
    const results = await core.group(`Upload to ${address}`, () =>
      uploadFiles(
        reusing(first, () => openSession(server, settings)),
        settings.target,
        files,
        {
          concurrency: settings.concurrency,
          retries: settings.retries,
          onBytes: n => progress.add(n)
        }
      )
    )
    report.files.push(...results.map(r => (fanOut ? { ...r, server: address } : r)))
  } finally {
    first.close()
  }
}
