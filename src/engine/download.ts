import { mkdir, rename, rm, stat } from 'node:fs/promises'
import * as path from 'node:path'
import * as core from '@actions/core'
import { ActionError } from '../errors.js'
import type { RemoteFile } from '../plans/remote-files.js'
import { localPathInside, printableName } from '../plans/safe-names.js'
import { fileResult, type FileResult } from '../report/types.js'
import { copyRange, Watermark } from './chunks.js'
import { LocalFileWriter } from './local-file.js'
import { RemoteFileReader } from './remote-file.js'
import { isTransient, killIfNetwork, runWithRetries } from './retry.js'
import type { SftpSession } from './session.js'
import { tempNameFor } from './temp-names.js'
import type { TransferOptions } from './upload.js'

interface DownloadJob {
  file: RemoteFile
  finalPath: string
  tempPath: string
  written: Watermark
  turn: number
}

/**
 * Downloads each file to a temporary local name, checks the size, then renames it into place.
 * Every local path is proven to lie inside `target` before anything is written.
 */
export async function downloadFiles(
  connect: () => Promise<SftpSession>,
  target: string,
  files: RemoteFile[],
  options: TransferOptions
): Promise<FileResult[]> {
  await mkdir(target, { recursive: true })
  const refused: FileResult[] = []
  const jobs: DownloadJob[] = []
  for (const file of files) {
    const finalPath = localPathInside(target, file.rel)
    if (!finalPath) {
      const why = `'${printableName(file.rel)}' would land outside the target directory`
      refused.push(fileResult(file.path, '', file.size, 'refused', why))
      continue
    }
    const tempPath = path.join(path.dirname(finalPath), tempNameFor(path.basename(finalPath)))
    jobs.push({ file, finalPath, tempPath, written: new Watermark(), turn: jobs.length })
  }
  const results = await runWithRetries({
    jobs,
    retries: options.retries,
    concurrency: options.concurrency,
    connect,
    run: (session, job) => downloadOne(session, job, options.onBytes),
    abandoned: (job, reason) =>
      fileResult(job.file.path, job.finalPath, job.file.size, 'failed', reason)
  })
  // A temporary file kept for resuming is useless once the step gives up.
  await Promise.all(jobs.map(job => rm(job.tempPath, { force: true })))
  return [...results, ...refused]
}

async function downloadOne(
  session: SftpSession,
  job: DownloadJob,
  onBytes: (n: number) => void
): Promise<FileResult> {
  try {
    await mkdir(path.dirname(job.finalPath), { recursive: true })
    const resume = await resumePoint(job)
    const reader = await RemoteFileReader.open(
      session.lanesFor(job.file.size, job.turn),
      job.file.path
    )
    const writer = await LocalFileWriter.open(job.tempPath, resume)
    try {
      await copyRange(reader, writer, job.file.size, job.written, onBytes).catch(
        killIfNetwork(session)
      )
      await reader.expectEnd(job.file.size)
    } finally {
      await writer.close()
      if (!session.dead) await reader.close()
    }
    const written = await stat(job.tempPath)
    if (written.size !== job.file.size) {
      throw new ActionError(
        'Size mismatch',
        `wrote ${written.size} bytes, expected ${job.file.size}`
      )
    }
    await rename(job.tempPath, job.finalPath)
    return fileResult(job.file.path, job.finalPath, job.file.size, 'transferred')
  } catch (err) {
    if (isTransient(err, session)) {
      session.kill()
      throw err
    }
    await rm(job.tempPath, { force: true })
    return fileResult(job.file.path, job.finalPath, job.file.size, 'failed', (err as Error).message)
  }
}

async function resumePoint(job: DownloadJob): Promise<boolean> {
  if (job.written.value === 0) return false
  const existing = await stat(job.tempPath).catch(() => undefined)
  job.written.rewind(existing?.size ?? 0)
  if (job.written.value > 0) core.info(`Resuming ${job.file.path} at byte ${job.written.value}.`)
  return job.written.value > 0
}
