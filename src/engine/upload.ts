import { statSync } from 'node:fs'
import * as path from 'node:path'
import type { LocalFile } from '../plans/local-files.js'
import type { FileResult } from '../report/types.js'
import { fileAttributes, folderMode, sourceFolders, type SourceAttributes } from './attributes.js'
import { deliver, deliveryFor, landingSteps, type Delivery } from './deliver.js'
import { openLocalFile } from './local-file.js'
import type { TransferOptions } from './options.js'
import { isTransient, runWithRetries } from './retry.js'
import type { SftpSession } from './session.js'
import { newRunToken } from './temp-names.js'

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
  const folders = sourceFolders(files, path.dirname)
  const steps = landingSteps(
    target,
    jobs.map(j => j.delivery),
    (session: SftpSession) => session,
    (_, rel) => {
      const source = rel === undefined ? undefined : folders.get(rel)
      return folderMode(options.preserve, source ? async () => statSync(source).mode : undefined)
    },
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
    const { preserve } = options
    const fromSource = preserve && (preserve.times || preserve.mode)
    const setAttributes = fileAttributes(
      preserve,
      fromSource ? localAttributes(job.file.path) : undefined
    )
    const delivered = await session.admit(job.file.size, () =>
      deliver(session, job.delivery, open, {
        ...options,
        ...(setAttributes ? { setAttributes } : {})
      })
    )
    options.onLanded?.(job.file.rel, delivered)
    return { ...row(job, 'transferred'), ...(delivered.sha256 ? { sha256: delivered.sha256 } : {}) }
  } catch (err) {
    if (isTransient(err, session)) throw err
    await session.main.unlink(job.delivery.tempPath).catch(() => undefined)
    return row(job, 'failed', (err as Error).message)
  }
}

function localAttributes(file: string): SourceAttributes {
  const info = statSync(file)
  return { atime: info.atimeMs / 1000, mtime: info.mtimeMs / 1000, mode: info.mode }
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
