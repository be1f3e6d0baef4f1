import { statSync } from 'node:fs'
import * as path from 'node:path'
import type { LocalFile } from '../plans/local-files.js'
import type { FileResult } from '../report/types.js'
import { fileAttributes, folderMode, sourceFolders, type SourceAttributes } from './attributes.js'
import {
  deliver,
  deliveryFor,
  refuseClimbing,
  type Delivered,
  type DeliverOptions,
  type Delivery
} from './deliver.js'
import { openLocalFile, readsWhole } from './local-file.js'
import { ReadAhead } from './read-ahead.js'
import type { TransferOptions } from './options.js'
import { isTransient, runWithRetries } from './retry.js'
import type { SftpSession } from './session.js'
import { newRunToken } from './temp-names.js'
import { BatchLandings, landingSteps } from './landings.js'
import { FolderTurns } from './folder-turns.js'

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
  for (const file of files) refuseClimbing(target, file.rel)
  const landings = new BatchLandings(target, files, token)
  // A file's delivery (paths, watermark) exists from its first attempt until it is done, and
  // across a reconnect while it is unfinished: memory by the files in flight, not by the tree.
  const started = new Map<LocalFile, Delivery>()
  const turns = new FolderTurns()
  const jobFor = (file: LocalFile, turn: number): UploadJob => {
    let delivery = started.get(file)
    if (!delivery) {
      delivery = deliveryFor(target, file.rel, file.size, turn, hash, token)
      delivery.readClock = landings.wantsClock(delivery)
      started.set(file, delivery)
    }
    delivery.turn = turn
    return { file, delivery }
  }
  const folders = sourceFolders(files, path.dirname)
  const steps = landingSteps(
    target,
    landings,
    (session: SftpSession) => session,
    (_, rel) => {
      const source = rel === undefined ? undefined : folders.get(rel)
      return folderMode(options.preserve, source ? async () => statSync(source).mode : undefined)
    },
    options.times,
    options.listedDirs
  )
  const readAhead = new ReadAhead(files.filter(f => readsWhole(f.size)).map(f => f.path))
  return runWithRetries({
    jobs: files,
    what: options.what,
    retries: options.retries,
    concurrency: options.concurrency,
    connect,
    prepare: (session, pending) =>
      steps.prepare(
        session,
        pending.map(f => f.rel)
      ),
    run: async (session, file, release) => {
      const width = Math.min(options.concurrency, session.filesInFlight)
      const turn = turns.take(file.rel, session.channels, width)
      try {
        const job = jobFor(file, turn.turn)
        // Counted until checked, as the file's place is (its handle is closed by then).
        const result = await uploadOne(session, job, options, readAhead, () => {
          turn.give()
          release()
        })
        started.delete(file)
        landings.landed(job.delivery)
        return result
      } finally {
        turn.give()
      }
    },
    finish: steps.finish,
    abandoned: (file, reason) => row(jobFor(file, started.get(file)?.turn ?? 0), 'failed', reason)
  }).finally(() => readAhead.close())
}

async function uploadOne(
  session: SftpSession,
  job: UploadJob,
  options: TransferOptions,
  readAhead: ReadAhead,
  release: () => void
): Promise<FileResult> {
  try {
    const open = () => openLocalFile(job.file.path, job.file.size, readAhead)
    const { preserve } = options
    const fromSource = preserve && (preserve.times || preserve.mode)
    const setAttributes = fileAttributes(
      preserve,
      fromSource ? localAttributes(job.file) : undefined
    )
    // Built per file, so only what deliver reads: a spread of every option cost tens of
    // thousands of wide objects on a big tree.
    const delivering: DeliverOptions = {
      onBytes: options.onBytes,
      verifySha256: options.verifySha256,
      times: options.times,
      setAttributes,
      release,
      ...(options.onChecked
        ? { renaming: (d: Delivered) => options.onChecked?.(job.file.rel, d) }
        : {})
    }
    const delivered = await session.admit(job.file.size, () =>
      deliver(session, job.delivery, open, delivering)
    )
    options.onLanded?.(job.file.rel, delivered)
    const result = row(job, 'transferred')
    if (delivered.sha256) result.sha256 = delivered.sha256
    return result
  } catch (err) {
    if (isTransient(err, session)) throw err
    await session.main.unlink(job.delivery.tempPath).catch(() => undefined)
    return row(job, 'failed', (err as Error).message)
  }
}

/** What the walk's stat said (the same stat as the size sent), or a stat of the file now. */
function localAttributes(file: LocalFile): SourceAttributes {
  const { mtime, atime, mode } = file
  if (mtime !== undefined && atime !== undefined) return { atime, mtime, mode }
  const info = statSync(file.path)
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
