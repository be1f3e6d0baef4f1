import type { LocalFile } from '../plans/local-files.js'
import type { PhaseTimes } from '../report/timings.js'
import type { FileResult } from '../report/types.js'
import { deliver, deliveryFor, landingSteps, type Delivered, type Delivery } from './deliver.js'
import { openLocalFile } from './local-file.js'
import { isTransient, runWithRetries } from './retry.js'
import type { SftpSession } from './session.js'
import { newRunToken } from './temp-names.js'

export interface TransferOptions {
  concurrency: number
  /** Reconnections allowed after network failures. */
  retries: number
  /** What the transfer does where, for the log and errors ("uploading to HOST:PORT"). */
  what?: string
  onBytes: (n: number) => void
  /** Hash every file as it streams and check the server's copy against it. */
  verifySha256: boolean
  /** Hash every file as it streams (for the manifest or the sync state) without checking. */
  hash?: boolean
  /** Where time goes, per phase, for the debug log. */
  times?: PhaseTimes
  /** Called as each file lands under its final name. */
  onLanded?: (rel: string, delivered: Delivered) => void
}

interface UploadJob {
  file: LocalFile
  delivery: Delivery
}

/**
 * Uploads files into `target`, each through a temporary name and an atomic rename. After a
 * dropped connection it reconnects and resumes: finished files are not sent again, and a partial
 * file continues from the bytes the server acknowledged.
 */
export function uploadFiles(
  connect: () => Promise<SftpSession>,
  target: string,
  files: LocalFile[],
  options: TransferOptions
): Promise<FileResult[]> {
  const hash = options.verifySha256 || options.hash === true
  // One token per server: fan-out servers sharing a file system never share a temporary file.
  const token = newRunToken()
  const jobs = files.map((file, turn) => ({
    file,
    delivery: deliveryFor(target, file.rel, file.size, turn, hash, token)
  }))
  const steps = landingSteps(
    target,
    jobs.map(j => j.delivery),
    (session: SftpSession) => session,
    options.times
  )
  return runWithRetries({
    jobs,
    what: options.what,
    retries: options.retries,
    concurrency: options.concurrency,
    connect,
    prepare: (session, pending) =>
      steps.prepare(
        session,
        pending.map(j => j.file.rel)
      ),
    run: (session, job) => uploadOne(session, job, options),
    finish: steps.finish,
    abandoned: (job, reason) => row(job, 'failed', reason)
  })
}

async function uploadOne(
  session: SftpSession,
  job: UploadJob,
  options: TransferOptions
): Promise<FileResult> {
  try {
    const open = () => openLocalFile(job.file.path, job.file.size)
    const delivered = await session.admit(job.file.size, () =>
      deliver(session, job.delivery, open, options)
    )
    options.onLanded?.(job.file.rel, delivered)
    return { ...row(job, 'transferred'), ...(delivered.sha256 ? { sha256: delivered.sha256 } : {}) }
  } catch (err) {
    if (isTransient(err, session)) throw err
    await session.main.unlink(job.delivery.tempPath).catch(() => undefined)
    return row(job, 'failed', (err as Error).message)
  }
}

function row(job: UploadJob, status: FileResult['status'], error?: string): FileResult {
  const result: FileResult = {
    source: job.file.path,
    target: job.delivery.finalPath,
    size: job.file.size,
    status
  }
  if (error) result.error = error
  return result
}
