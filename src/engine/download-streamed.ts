import { chmod, rename, stat, utimes } from 'node:fs/promises'
import * as core from '@actions/core'
import { forLog } from '../escape.js'
import { ActionError, TransferError } from '../errors.js'
import type { RemoteFile } from '../plans/remote-files.js'
import { hashFile } from '../plans/local-hash.js'
import { printableName } from '../plans/safe-names.js'
import { timed } from '../report/timings.js'
import type { FileAttributes } from './attributes.js'
import { copyRange, type Watermark } from './chunks.js'
import { LocalFileWriter } from './local-file.js'
import type { TransferOptions } from './options.js'
import { RemoteFileReader } from './remote-reader.js'
import { checkAgainstServer, checkAgainstSidecar } from './remote-hash.js'
import { killIfNetwork } from './retry.js'
import type { SftpSession } from './session.js'
import type { SidecarChecksums } from './sidecars.js'

/** A file streamed to disk in chunks: what a later attempt resumes from. */
export interface DownloadJob {
  file: RemoteFile
  finalPath: string
  tempPath: string
  written: Watermark
  turn: number
  /** Set once an attempt continued what an earlier one left: the file has more than one writer. */
  resumed?: boolean
}

/** What a streamed file needs of its download (download.ts's Run). */
export interface StreamedRun {
  options: TransferOptions
  sidecars: SidecarChecksums | undefined
}

/** A bigger file, streamed in chunks to its temporary file; resumable after a dropped connection. */
export async function fetchStreamed(
  session: SftpSession,
  job: DownloadJob,
  attrs: FileAttributes | undefined,
  run: StreamedRun
): Promise<string | undefined> {
  const { options } = run
  await session.admit(job.file.size, () => fetchToTemp(session, job, options.onBytes))
  const sha256 = await timed(options.times, 'verify', () =>
    checkContent(session, job, options, run.sidecars)
  )
  await setLocalAttributes(job.tempPath, attrs)
  await timed(options.times, 'rename', () => rename(job.tempPath, job.finalPath))
  return sha256
}

async function fetchToTemp(session: SftpSession, job: DownloadJob, onBytes: (n: number) => void) {
  const resume = await resumePoint(job)
  const lanes = session.lanesFor(job.file.size, job.turn)
  const reader = await RemoteFileReader.open(lanes, job.file.path, true)
  const writer = await LocalFileWriter.open(job.tempPath, resume).catch(async (err: unknown) => {
    await reader.close().catch(() => undefined)
    throw err
  })
  try {
    await copyRange(reader, writer, job.file.size, job.written, onBytes, session.budget)
    await reader.expectEnd(job.file.size)
  } catch (err) {
    killIfNetwork(session)(err)
  } finally {
    await writer.close()
    if (!session.dead) await reader.close().catch(() => undefined)
  }
  const written = await stat(job.tempPath)
  if (written.size !== job.file.size) {
    throw new ActionError('Size mismatch', `wrote ${written.size} bytes, expected ${job.file.size}`)
  }
}

/** With `verify: sha256`: the bytes received must hash as the server's copy and any sidecar say. */
async function checkContent(
  session: SftpSession,
  job: DownloadJob,
  options: TransferOptions,
  sidecars: SidecarChecksums | undefined
): Promise<string | undefined> {
  const received = job.written.digest()
  if (!received) return received
  // The digest is of the bytes as they arrived, not of the file: after a resume, the part an
  // earlier attempt wrote is trusted (and its hash reported) only once the file hashes the same.
  if (job.resumed && (await hashFile(job.tempPath, job.file.size)) !== received) {
    throw new TransferError(
      `${printableName(job.file.path)} did not hash on the runner as the bytes received after ` +
        'resuming; it was not kept.'
    )
  }
  if (!options.verifySha256) return received
  checkAgainstSidecar(received, await sidecars?.expectedFor(job.file.path))
  await checkAgainstServer(session, job.file.path, job.file.size, received, 'received')
  return received
}

/** Before the rename, so the file never shows under its name with the wrong mode or times. */
async function setLocalAttributes(file: string, attrs: FileAttributes | undefined): Promise<void> {
  if (attrs?.mode !== undefined) await chmod(file, attrs.mode)
  if (attrs?.mtime !== undefined) await utimes(file, attrs.atime ?? attrs.mtime, attrs.mtime)
}

async function resumePoint(job: DownloadJob): Promise<boolean> {
  if (job.written.value === 0) {
    job.written.rewind(0)
    return false
  }
  const existing = await stat(job.tempPath).catch(() => undefined)
  job.written.rewind(existing?.size ?? 0)
  if (job.written.value > 0) {
    core.info(`Resuming ${forLog(job.file.path)} at byte ${job.written.value}.`)
    job.resumed = true
  }
  return job.written.value > 0
}
