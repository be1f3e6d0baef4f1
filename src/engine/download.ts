import { mkdir, rename, rm, stat } from 'node:fs/promises'
import * as path from 'node:path'
import pLimit from 'p-limit'
import { TransferError } from '../errors.js'
import type { RemoteFile } from '../plans/remote-files.js'
import { localPathInside, printableName } from '../plans/safe-names.js'
import type { FileResult } from '../report/types.js'
import { getFile } from './file-copy.js'
import type { SftpSession } from './session.js'
import { tempNameFor } from './temp-names.js'
import { lanesFor, type TransferOptions } from './upload.js'

/**
 * Downloads each file to a temporary local name, checks the size, then renames it into place.
 * Every local path is proven to lie inside `target` before anything is written.
 */
export async function downloadFiles(
  session: SftpSession,
  target: string,
  files: RemoteFile[],
  options: TransferOptions
): Promise<FileResult[]> {
  await mkdir(target, { recursive: true })
  const limit = pLimit(options.concurrency)
  let turn = 0
  return Promise.all(
    files.map(file =>
      limit(() => downloadOne(lanesFor(session.channels, file.size, turn++), target, file, options))
    )
  )
}

async function downloadOne(
  lanes: Parameters<typeof getFile>[0],
  target: string,
  file: RemoteFile,
  options: TransferOptions
): Promise<FileResult> {
  const finalPath = localPathInside(target, file.rel)
  if (!finalPath) {
    return {
      source: file.path,
      target: '',
      size: file.size,
      status: 'refused',
      error: `'${printableName(file.rel)}' would land outside the target directory`
    }
  }
  const tempPath = path.join(path.dirname(finalPath), tempNameFor(path.basename(finalPath)))
  const result: FileResult = {
    source: file.path,
    target: finalPath,
    size: file.size,
    status: 'transferred'
  }
  try {
    await mkdir(path.dirname(finalPath), { recursive: true })
    await getFile(lanes, file.path, tempPath, file.size, options.onBytes)
    const written = await stat(tempPath)
    if (written.size !== file.size) {
      throw new TransferError(`${file.path}: wrote ${written.size} bytes, expected ${file.size}.`)
    }
    await rename(tempPath, finalPath)
  } catch (err) {
    result.status = 'failed'
    result.error = (err as Error).message
    await rm(tempPath, { force: true })
  }
  return result
}
