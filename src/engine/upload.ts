import * as path from 'node:path'
import * as core from '@actions/core'
import { ActionError } from '../errors.js'
import type { LocalFile } from '../plans/local-files.js'
import type { FileResult } from '../report/types.js'
import { copyRange, Watermark } from './chunks.js'
import { LocalFileReader } from './local-file.js'
import { ensureRemoteDirs } from './remote-dirs.js'
import { RemoteFileWriter } from './remote-file.js'
import { isTransient, killIfNetwork, runWithRetries } from './retry.js'
import type { SftpSession } from './session.js'
import { SFTP_STATUS, type SftpError } from './sftp.js'
import { isTempName, RUN_TOKEN, tempNameFor } from './temp-names.js'

export interface TransferOptions {
  concurrency: number
  /** Reconnections allowed after network failures. */
  retries: number
  onBytes: (n: number) => void
}

interface UploadJob {
  file: LocalFile
  finalPath: string
  tempPath: string
  /** Bytes of the temporary file known to be written, carried across reconnects. */
  written: Watermark
  turn: number
}

/**
 * Uploads each file to a temporary name beside its final one, checks the size, then renames it
 * into place, so nobody ever reads a half-written file under its real name. After a dropped
 * connection it reconnects and resumes: finished files are not sent again, and a partial file
 * continues from the bytes the server acknowledged.
 */
export async function uploadFiles(
  connect: () => Promise<SftpSession>,
  target: string,
  files: LocalFile[],
  options: TransferOptions
): Promise<FileResult[]> {
  const jobs = files.map((file, turn): UploadJob => {
    const finalPath = path.posix.join(target, file.rel)
    const dir = path.posix.dirname(finalPath)
    const tempPath = path.posix.join(dir, tempNameFor(path.posix.basename(finalPath)))
    return { file, finalPath, tempPath, written: new Watermark(), turn }
  })
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
    finish: session => removeStaleTemps(session, jobs),
    abandoned: (job, reason) => result(job, 'failed', reason)
  })
}

async function uploadOne(
  session: SftpSession,
  job: UploadJob,
  onBytes: (n: number) => void
): Promise<FileResult> {
  try {
    const resume = await resumePoint(session, job)
    const writer = await RemoteFileWriter.open(
      session.lanesFor(job.file.size, job.turn),
      job.tempPath,
      resume
    )
    const reader = await LocalFileReader.open(job.file.path)
    try {
      await copyRange(reader, writer, job.file.size, job.written, onBytes).catch(
        killIfNetwork(session)
      )
    } finally {
      await reader.close()
      if (!session.dead) await writer.close()
    }
    const written = await session.main.stat(job.tempPath)
    if (written.size !== job.file.size) {
      throw new ActionError(
        'Size mismatch',
        `the server holds ${written.size} bytes after upload, expected ${job.file.size}`
      )
    }
    await session.main.replace(job.tempPath, job.finalPath)
    return result(job, 'transferred')
  } catch (err) {
    if (isTransient(err, session)) {
      session.kill()
      throw err
    }
    await session.main.unlink(job.tempPath).catch(() => undefined)
    return result(job, 'failed', (err as Error).message)
  }
}

/** Whether to continue a temporary file an earlier connection left, trusting only its real size. */
async function resumePoint(session: SftpSession, job: UploadJob): Promise<boolean> {
  if (job.written.value === 0) return false
  const existing = await session.main.stat(job.tempPath).catch((err: SftpError) => {
    if (err.code === SFTP_STATUS.NO_SUCH_FILE) return undefined
    throw err
  })
  job.written.rewind(existing?.size ?? 0)
  if (job.written.value > 0) core.info(`Resuming ${job.finalPath} at byte ${job.written.value}.`)
  return job.written.value > 0
}

/** Temporary files of earlier, interrupted runs in the directories this run wrote to. */
async function removeStaleTemps(session: SftpSession, jobs: UploadJob[]): Promise<void> {
  const dirs = [...new Set(jobs.map(j => path.posix.dirname(j.finalPath)))]
  for (const dir of dirs) {
    const entries = await session.main.readdir(dir).catch(() => [])
    for (const entry of entries) {
      if (!entry.isFile || !isTempName(entry.name) || entry.name.includes(RUN_TOKEN)) continue
      const stale = path.posix.join(dir, entry.name)
      await session.main
        .unlink(stale)
        .then(() => core.info(`Removed ${stale}, left by an earlier interrupted run.`))
        .catch(() => undefined)
    }
  }
}

function result(job: UploadJob, status: FileResult['status'], error?: string): FileResult {
  const row: FileResult = {
    source: job.file.path,
    target: job.finalPath,
    size: job.file.size,
    status
  }
  if (error) row.error = error
  return row
}
