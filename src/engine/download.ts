import { mkdir, rm, statfs } from 'node:fs/promises'
import * as path from 'node:path'
import type { Worker } from 'node:worker_threads'
import { ActionError } from '../errors.js'
import type { RemoteFile } from '../plans/remote-files.js'
import { printableName } from '../plans/safe-names.js'
import { formatBytes } from '../report/progress.js'
import { fileResult, type FileResult } from '../report/types.js'
import { fileAttributes, folderMode, remoteAttributes, sourceFolders } from './attributes.js'
import { Watermark } from './chunks.js'
import { LandingStopped, LandingThread } from './landing-thread.js'
import { FolderCheck, realpathOfExisting } from './local-landing.js'
import { fetchWhole, type WholeRun } from './download-whole.js'
import { LocalPlaces } from './local-places.js'
import { isTransient, runWithRetries } from './retry.js'
import { WHOLE_FILE_MAX, type SftpSession } from './session.js'
import { fetchStreamed, type DownloadJob } from './download-streamed.js'
import { SidecarChecksums } from './sidecars.js'
import { tempNameFor } from './temp-names.js'
import type { TransferOptions } from './options.js'

export { realpathOfExisting } from './local-landing.js'

/** What every file of one download shares. */
interface Run extends WholeRun {
  folders: FolderCheck
  places: LocalPlaces
  /** Files streamed in chunks whose temporary file may outlive an attempt, until they land. */
  started: Map<RemoteFile, DownloadJob>
  turns: number
}

/**
 * Downloads each file to a temporary local name, checks it, then renames it into place. Every
 * local path is proven to lie inside `target` before anything is written. The plan's files are
 * the jobs: a few workers take them in turn, and state is kept only for files in flight and for
 * big ones an attempt may resume, so 50,000 files cost little more than their listing.
 * `startThread` starts the landing thread (landing-thread.ts; injectable for tests).
 */
export async function downloadFiles(
  connect: () => Promise<SftpSession>,
  target: string,
  files: RemoteFile[],
  options: TransferOptions,
  startThread?: () => Worker
): Promise<FileResult[]> {
  await refuseWithoutRoom(target, files)
  const first = await mkdir(target, { recursive: true })
  let current: SftpSession | undefined
  const sources = sourceFolders(files, path.posix.dirname)
  const folders = new FolderCheck(target, options.times, rel => {
    const source = rel === undefined ? undefined : sources.get(rel)
    const session = current as SftpSession
    return folderMode(
      options.preserve,
      source ? async () => (await session.main.stat(source)).mode : undefined
    )
  })
  await folders.created(first, target)
  const sidecars = options.verifySha256
    ? new SidecarChecksums(() => (current as SftpSession).main)
    : undefined
  const landing = new LandingThread(options.times, startThread)
  const places = new LocalPlaces(target)
  const run: Run = { options, sidecars, folders, places, landing, started: new Map(), turns: 0 }
  let provingAhead = false
  const results = await runWithRetries({
    jobs: files,
    what: options.what,
    retries: options.retries,
    concurrency: options.concurrency,
    connect,
    run: (session, file) => {
      current = session
      if (!provingAhead) {
        provingAhead = true
        proveAhead(files, places, folders)
      }
      const finalPath = places.of(file.rel)
      if (!finalPath) return Promise.resolve(refusedRow(file))
      return downloadOne(session, file, finalPath, run)
    },
    abandoned: (file, reason) => {
      const finalPath = places.of(file.rel)
      if (!finalPath) return refusedRow(file)
      return fileResult(file.path, finalPath, file.size, 'failed', reason)
    }
  })
    .finally(() => landing.close())
    // A temporary file kept for resuming is useless once the step gives up, and so it is when an
    // error that no retry helps (a landing thread that stopped, a full disk) ends the download.
    .finally(() =>
      Promise.all([...run.started.values()].map(job => rm(job.tempPath, { force: true })))
    )
  await folders.applyModes()
  // Refused names are reported after the files, as the plan lists them.
  return [
    ...results.filter(r => r.status !== 'refused'),
    ...results.filter(r => r.status === 'refused')
  ]
}

/**
 * Starts proving and making every folder the files land in, once the first file starts: a folder
 * checked only when its first file comes up holds that file and the ones after it for a few file
 * system calls each, 50 times over for 10,000 files in 50 folders. Each file still awaits its own
 * folder's check; one that failed here is checked again then, and its error reported there.
 */
function proveAhead(files: RemoteFile[], places: LocalPlaces, folders: FolderCheck): void {
  const dirs = new Set<string>()
  for (const file of files) {
    const dir = places.folderOf(file.rel)
    if (dir !== undefined) dirs.add(dir)
  }
  for (const dir of dirs) folders.prove(dir).catch(() => undefined)
}

function refusedRow(file: RemoteFile): FileResult {
  const why = `'${printableName(file.rel)}' would land outside the target directory`
  return fileResult(file.path, '', file.size, 'refused', why)
}

/** `dir/.name.<token>.sftp-part` beside `finalPath` (LocalPlaces.of: a resolved folder, a name). */
function tempPathFor(finalPath: string): string {
  // Not path.join and path.dirname: each normalizes the whole path again, for every file.
  const slash = finalPath.lastIndexOf(path.sep)
  return finalPath.slice(0, slash + 1) + tempNameFor(finalPath.slice(slash + 1))
}

/**
 * One file. A small one takes its way without an async frame (every file of a many-file pull
 * does); a bigger one is streamed, and resumed after a dropped connection (downloadStreamed).
 */
function downloadOne(
  session: SftpSession,
  file: RemoteFile,
  finalPath: string,
  run: Run
): Promise<FileResult> {
  const turn = run.turns++
  const channel = session.channels[turn % session.channels.length]
  if (file.size > Math.min(WHOLE_FILE_MAX, channel.maxReadLen) || run.started.has(file)) {
    return downloadStreamed(session, file, finalPath, turn, run)
  }
  const tempPath = tempPathFor(finalPath)
  return run.folders
    .prove(run.places.folderOf(file.rel) as string)
    .then(() =>
      session.admit(file.size, () => fetchWhole(session, channel, file, tempPath, finalPath, run))
    )
    .then(
      sha256 => transferred(file, finalPath, sha256),
      (err: unknown) => failedOne(session, file, finalPath, tempPath, run, err)
    )
}

function transferred(file: RemoteFile, finalPath: string, sha256: string | void): FileResult {
  const row = fileResult(file.path, finalPath, file.size, 'transferred')
  return sha256 ? { ...row, sha256 } : row
}

/** A file that failed: retried after network trouble, else reported, its temporary file gone. */
async function failedOne(
  session: SftpSession,
  file: RemoteFile,
  finalPath: string,
  tempPath: string,
  run: Run,
  err: unknown
): Promise<FileResult> {
  if (isTransient(err, session)) throw err
  run.started.delete(file)
  await rm(tempPath, { force: true })
  if (err instanceof LandingStopped) throw err
  return fileResult(file.path, finalPath, file.size, 'failed', (err as Error).message)
}

async function downloadStreamed(
  session: SftpSession,
  file: RemoteFile,
  finalPath: string,
  turn: number,
  run: Run
): Promise<FileResult> {
  const { options } = run
  let job = run.started.get(file)
  const tempPath = job?.tempPath ?? tempPathFor(finalPath)
  try {
    await run.folders.prove(run.places.folderOf(file.rel) as string)
    const attrs = fileAttributes(options.preserve, remoteAttributes(file))
    if (!job) {
      const written = new Watermark(0, options.verifySha256)
      job = { file, finalPath, tempPath, written, turn }
      run.started.set(file, job)
    }
    const sha256 = await fetchStreamed(session, job, attrs, run)
    run.started.delete(file)
    return transferred(file, finalPath, sha256)
  } catch (err) {
    return failedOne(session, file, finalPath, tempPath, run, err)
  }
}

/**
 * A server can announce any size (a file that claims 1 TiB and reads as zeroes): what would not
 * fit on the runner's disk is refused before anything is written, rather than filling the disk.
 */
async function refuseWithoutRoom(target: string, files: RemoteFile[]): Promise<void> {
  const needed = files.reduce((sum, f) => sum + f.size, 0)
  const where = await realpathOfExisting(target)
  const { bavail, bsize } = await statfs(where)
  const free = bavail * bsize
  if (needed <= free) return
  throw new ActionError(
    'Not enough disk space',
    `the ${files.length} files to download add up to ${formatBytes(needed)} (${needed} bytes, ` +
      `as the server announced), but the runner has ${formatBytes(free)} (${free} bytes) free ` +
      `at ${where}; nothing was written. Narrow 'source', or free space on the runner.`
  )
}
