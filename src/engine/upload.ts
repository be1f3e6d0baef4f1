import type { LocalFile } from '../plans/local-files.js'
import { fileResult, type FileResult } from '../report/types.js'
import { deliver, deliveryFor, removeStaleTemps, type Delivery } from './deliver.js'
import { LocalFileReader } from './local-file.js'
import { ensureRemoteDirs } from './remote-dirs.js'
import { isTransient, runWithRetries } from './retry.js'
import type { SftpSession } from './session.js'

export interface TransferOptions {
  concurrency: number
  /** Reconnections allowed after network failures. */
  retries: number
  onBytes: (n: number) => void
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
  const jobs = files.map((file, turn) => ({
    file,
    delivery: deliveryFor(target, file.rel, file.size, turn)
  }))
  return runWithRetries({
    jobs,
    retries: options.retries,
    concurrency: options.concurrency,
    connect,
    prepare: (session, pending) =>
      ensureRemoteDirs(
        session.main,
        target,
        pending.map(j => j.file.rel)
      ),
    run: (session, job) => uploadOne(session, job, options.onBytes),
    finish: session =>
      removeStaleTemps(
        session,
        jobs.map(j => j.delivery)
      ),
    abandoned: (job, reason) =>
      fileResult(job.file.path, job.delivery.finalPath, job.file.size, 'failed', reason)
  })
}

async function uploadOne(
  session: SftpSession,
  job: UploadJob,
  onBytes: (n: number) => void
): Promise<FileResult> {
  try {
    await deliver(session, job.delivery, () => LocalFileReader.open(job.file.path), onBytes)
    return fileResult(job.file.path, job.delivery.finalPath, job.file.size, 'transferred')
  } catch (err) {
    if (isTransient(err, session)) throw err
    await session.main.unlink(job.delivery.tempPath).catch(() => undefined)
    return fileResult(
      job.file.path,
      job.delivery.finalPath,
      job.file.size,
      'failed',
      (err as Error).message
    )
  }
}
