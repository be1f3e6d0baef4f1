import { chmod, lstat, mkdir, realpath, rename, rm, stat, statfs, utimes } from 'node:fs/promises'
import * as path from 'node:path'
import * as core from '@actions/core'
import { forLog } from '../escape.js'
import { ActionError, ConnectionError, TransferError } from '../errors.js'
import type { RemoteFile } from '../plans/remote-files.js'
import { hashFile } from '../plans/local-hash.js'
import { isInsideDir, localPathInside, printableName } from '../plans/safe-names.js'
import { formatBytes } from '../report/progress.js'
import { timed, type PhaseTimes } from '../report/timings.js'
import { fileResult, type FileResult } from '../report/types.js'
import {
  fileAttributes,
  folderMode,
  remoteAttributes,
  sourceFolders,
  type FileAttributes
} from './attributes.js'
import { copyRange, Watermark } from './chunks.js'
import { LocalFileWriter } from './local-file.js'
import { readWholeRemote, RemoteFileReader } from './remote-file.js'
import { checkAgainstServer, checkAgainstSidecar } from './remote-hash.js'
import { isTransient, killIfNetwork, runWithRetries } from './retry.js'
import { WHOLE_FILE_MAX, type SftpSession } from './session.js'
import { SidecarChecksums } from './sidecars.js'
import { tempNameFor } from './temp-names.js'
import type { TransferOptions } from './options.js'

interface DownloadJob {
  file: RemoteFile
  finalPath: string
  tempPath: string
  written: Watermark
  turn: number
  /** Set once an attempt continued what an earlier one left: the file has more than one writer. */
  resumed?: boolean
}

/**
 * Downloads each file to a temporary local name, checks it, then renames it into place. Every
 * local path is proven to lie inside `target` before anything is written.
 */
export async function downloadFiles(
  connect: () => Promise<SftpSession>,
  target: string,
  files: RemoteFile[],
  options: TransferOptions
): Promise<FileResult[]> {
  await refuseWithoutRoom(target, files)
  const first = await mkdir(target, { recursive: true })
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
    const written = new Watermark(0, options.verifySha256)
    jobs.push({ file, finalPath, tempPath, written, turn: jobs.length })
  }
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
  const results = await runWithRetries({
    jobs,
    what: options.what,
    retries: options.retries,
    concurrency: options.concurrency,
    connect,
    run: (session, job) => {
      current = session
      return downloadOne(session, job, options, sidecars, folders)
    },
    abandoned: (job, reason) =>
      fileResult(job.file.path, job.finalPath, job.file.size, 'failed', reason)
  })
  // A temporary file kept for resuming is useless once the step gives up.
  await Promise.all(jobs.map(job => rm(job.tempPath, { force: true })))
  await folders.applyModes()
  return [...results, ...refused]
}

async function downloadOne(
  session: SftpSession,
  job: DownloadJob,
  options: TransferOptions,
  sidecars: SidecarChecksums | undefined,
  folders: FolderCheck
): Promise<FileResult> {
  try {
    await folders.prove(path.dirname(job.finalPath))
    await session.admit(job.file.size, () => fetchToTemp(session, job, options.onBytes))
    const sha256 = await timed(options.times, 'verify', () =>
      checkContent(session, job, options, sidecars)
    )
    await setLocalAttributes(
      job.tempPath,
      fileAttributes(options.preserve, remoteAttributes(job.file))
    )
    await timed(options.times, 'rename', () => rename(job.tempPath, job.finalPath))
    const row = fileResult(job.file.path, job.finalPath, job.file.size, 'transferred')
    return sha256 ? { ...row, sha256 } : row
  } catch (err) {
    if (isTransient(err, session)) throw err
    await rm(job.tempPath, { force: true })
    return fileResult(job.file.path, job.finalPath, job.file.size, 'failed', (err as Error).message)
  }
}

async function fetchToTemp(session: SftpSession, job: DownloadJob, onBytes: (n: number) => void) {
  const resume = await resumePoint(job)
  const lanes = session.lanesFor(job.file.size, job.turn)
  if (!resume && job.file.size <= Math.min(WHOLE_FILE_MAX, lanes[0].maxReadLen)) {
    const data = await readWholeRemote(lanes[0], job.file.path, job.file.size)
    const writer = await LocalFileWriter.open(job.tempPath, false)
    try {
      await writer.write(0, data)
    } finally {
      await writer.close()
    }
    job.written.complete(0, data)
    onBytes(data.length)
    return
  }
  const reader = await RemoteFileReader.open(lanes, job.file.path)
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

/**
 * Creates the folders files land in and proves each really lies inside the target. The names
 * were checked already; this catches a symbolic link on the runner (a checkout's `docs ->
 * /etc`, say) that would carry writes out of the target. Each folder is checked once per run.
 */
class FolderCheck {
  private readonly proven = new Map<string, Promise<void>>()
  private root: Promise<string> | undefined
  private readonly modes: Array<{ dir: string; mode: number }> = []

  constructor(
    private readonly target: string,
    private readonly times: PhaseTimes | undefined,
    private readonly modeOf: (rel: string | undefined) => Promise<number | undefined>
  ) {}

  /** Notes the folders `mkdir -p` made, from `first` down to `dir`, with the modes they get. */
  async created(first: string | undefined, dir: string): Promise<void> {
    if (first === undefined) return
    const made: string[] = []
    for (let d = dir; ; d = path.dirname(d)) {
      made.push(d)
      if (d === first || path.dirname(d) === d) break
    }
    for (const d of made) {
      const rel = path.relative(this.target, d)
      const below = rel !== '' && isInsideDir(this.target, d)
      const mode = await this.modeOf(below ? rel.split(path.sep).join('/') : undefined).catch(
        (err: unknown) => {
          if (err instanceof ConnectionError) throw err
          return undefined
        }
      )
      if (mode !== undefined) this.modes.push({ dir: d, mode })
    }
  }

  /** Last, once every file is in: a folder mode without write permission cannot stop a file. */
  async applyModes(): Promise<void> {
    await Promise.all(this.modes.map(({ dir, mode }) => chmod(dir, mode)))
  }

  prove(dir: string): Promise<void> {
    let check = this.proven.get(dir)
    if (!check) {
      check = timed(this.times, 'mkdir', () => this.check(dir))
      this.proven.set(dir, check)
      check.catch(() => this.proven.delete(dir))
    }
    return check
  }

  private async check(dir: string): Promise<void> {
    // The part that exists is resolved before anything is created, so not even an empty folder
    // appears outside the target; folders created below it cannot be links.
    this.root ??= realpath(this.target)
    const root = await this.root
    const real = await realpathOfExisting(dir).catch((err: Error) => {
      throw new TransferError(`${dir} cannot be resolved (${err.message}); nothing was written.`)
    })
    if (!isInsideDir(root, real)) {
      throw new TransferError(
        `${dir} leads outside the target through a symbolic link (to ${real}); ` +
          'nothing was written there.'
      )
    }
    await this.created(await mkdir(dir, { recursive: true }), dir)
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

/** Where `dir` really is: the deepest part of it that exists, with every link resolved. */
export async function realpathOfExisting(dir: string): Promise<string> {
  let current = dir
  while (!(await lstat(current).catch(() => undefined)) && path.dirname(current) !== current) {
    current = path.dirname(current)
  }
  return realpath(current)
}
