import * as path from 'node:path'
import pLimit from 'p-limit'
import type { LocalFile } from '../plans/local-files.js'
import type { FileResult } from '../report/types.js'
import { putFile } from './file-copy.js'
import { ensureRemoteDirs } from './remote-dirs.js'
import type { SftpSession } from './session.js'
import type { SftpChannel } from './sftp.js'
import { tempNameFor } from './temp-names.js'

/** Files at least this big are spread over every channel; smaller ones use one. */
export const SPREAD_THRESHOLD = 8 * 1024 * 1024

export interface TransferOptions {
  concurrency: number
  onBytes: (n: number) => void
}

/**
 * Uploads each file to a temporary name beside its final one, checks the size, then renames it
 * into place, so nobody ever reads a half-written file under its real name. A failed file is
 * recorded and its temporary file removed; the others carry on.
 */
export async function uploadFiles(
  session: SftpSession,
  target: string,
  files: LocalFile[],
  options: TransferOptions
): Promise<FileResult[]> {
  await ensureRemoteDirs(
    session.main,
    target,
    files.map(f => f.rel)
  )
  const limit = pLimit(options.concurrency)
  let turn = 0
  return Promise.all(
    files.map(file =>
      limit(() =>
        uploadOne(session, lanesFor(session.channels, file.size, turn++), target, file, options)
      )
    )
  )
}

export function lanesFor(channels: SftpChannel[], size: number, turn: number): SftpChannel[] {
  return size >= SPREAD_THRESHOLD ? channels : [channels[turn % channels.length]]
}

async function uploadOne(
  session: SftpSession,
  lanes: SftpChannel[],
  target: string,
  file: LocalFile,
  options: TransferOptions
): Promise<FileResult> {
  const finalPath = path.posix.join(target, file.rel)
  const tempPath = path.posix.join(
    path.posix.dirname(finalPath),
    tempNameFor(path.posix.basename(finalPath))
  )
  const result: FileResult = {
    source: file.path,
    target: finalPath,
    size: file.size,
    status: 'transferred'
  }
  try {
    await putFile(lanes, file.path, tempPath, file.size, options.onBytes)
    await lanes[0].replace(tempPath, finalPath)
  } catch (err) {
    result.status = 'failed'
    result.error = (err as Error).message
    await session.main.unlink(tempPath).catch(() => undefined)
  }
  return result
}
