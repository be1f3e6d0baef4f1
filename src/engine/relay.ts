import * as path from 'node:path'
import type { RemoteFile } from '../plans/remote-files.js'
import { fileResult, type FileResult } from '../report/types.js'
import { fileAttributes, folderMode, remoteAttributes, sourceFolders } from './attributes.js'
import { deliver, deliveryFor, landingSteps, type Delivery } from './deliver.js'
import { BufferReader } from './chunks.js'
import { readWholeRemote, RemoteFileReader } from './remote-file.js'
import { isTransient, runWithRetries, type Reconnectable } from './retry.js'
import { WHOLE_FILE_MAX, type SftpSession } from './session.js'
import { newRunToken } from './temp-names.js'
import { SidecarChecksums } from './sidecars.js'
import type { TransferOptions } from './options.js'

/** Both ends of a relay. If either drops, both are reconnected. */
export class RelayPair implements Reconnectable {
  constructor(
    readonly source: SftpSession,
    readonly target: SftpSession
  ) {}

  get dead(): boolean {
    return this.source.dead || this.target.dead
  }

  get fatal(): Error | undefined {
    return this.source.fatal ?? this.target.fatal
  }

  get filesInFlight(): number {
    return Math.min(this.source.filesInFlight, this.target.filesInFlight)
  }

  kill(): void {
    this.source.kill()
    this.target.kill()
  }

  close(): void {
    this.source.close()
    this.target.close()
  }
}

interface RelayJob {
  file: RemoteFile
  delivery: Delivery
}

/**
 * Streams files from one server to another through the runner: read requests on the source
 * and write requests on the destination stay in flight together, nothing touches the runner's
 * disk, and memory is bounded by the requests in flight whatever the file size.
 */
export function relayFiles(
  connect: () => Promise<RelayPair>,
  target: string,
  files: RemoteFile[],
  options: TransferOptions
): Promise<FileResult[]> {
  // One token per server: fan-out servers sharing a file system never share a temporary file.
  const token = newRunToken()
  const jobs = files.map((file, turn) => ({
    file,
    delivery: deliveryFor(target, file.rel, file.size, turn, options.verifySha256, token)
  }))
  let current: RelayPair | undefined
  const sidecars = options.verifySha256
    ? new SidecarChecksums(() => (current as RelayPair).source.main)
    : undefined
  const folders = sourceFolders(files, path.posix.dirname)
  const steps = landingSteps(
    target,
    jobs.map(j => j.delivery),
    (pair: RelayPair) => pair.target,
    (pair, rel) => {
      const source = rel === undefined ? undefined : folders.get(rel)
      const sourceMode = async () => (await pair.source.main.stat(source as string)).mode
      return folderMode(options.preserve, source ? sourceMode : undefined)
    },
    options.times
  )
  return runWithRetries({
    jobs,
    what: options.what,
    retries: options.retries,
    concurrency: options.concurrency,
    connect,
    prepare: (pair, pending) =>
      steps.prepare(
        pair,
        pending.map(j => j.file.rel)
      ),
    run: (pair, job) => {
      current = pair
      return relayOne(pair, job, options, sidecars)
    },
    finish: steps.finish,
    abandoned: (job, reason) =>
      fileResult(job.file.path, job.delivery.finalPath, job.file.size, 'failed', reason)
  })
}

async function relayOne(
  pair: RelayPair,
  job: RelayJob,
  options: TransferOptions,
  sidecars: SidecarChecksums | undefined
): Promise<FileResult> {
  const size = job.file.size
  const lanes = pair.source.lanesFor(size, job.delivery.turn)
  // A small file is read whole (open, then read, end check and close together) while the
  // destination opens its temporary file: no source handle stays open across the write.
  const open = async () =>
    size <= Math.min(WHOLE_FILE_MAX, lanes[0].maxReadLen)
      ? new BufferReader(await readWholeRemote(lanes[0], job.file.path, size))
      : RemoteFileReader.open(lanes, job.file.path)
  try {
    const expected = await sidecars?.expectedFor(job.file.path)
    const setAttributes = fileAttributes(options.preserve, remoteAttributes(job.file))
    // Always source first, then destination: waits never form a cycle.
    const delivered = await pair.source.admit(size, () =>
      pair.target.admit(size, () =>
        deliver(pair.target, job.delivery, open, {
          ...options,
          ...(expected ? { expectedSha256: expected } : {}),
          ...(setAttributes ? { setAttributes } : {}),
          connection: pair
        })
      )
    )
    const row = fileResult(job.file.path, job.delivery.finalPath, job.file.size, 'transferred')
    return delivered.sha256 ? { ...row, sha256: delivered.sha256 } : row
  } catch (err) {
    if (isTransient(err, pair)) throw err
    await pair.target.main.unlink(job.delivery.tempPath).catch(() => undefined)
    return fileResult(
      job.file.path,
      job.delivery.finalPath,
      job.file.size,
      'failed',
      (err as Error).message
    )
  }
}
