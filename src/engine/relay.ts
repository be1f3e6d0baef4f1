import * as path from 'node:path'
import type { RemoteFile } from '../plans/remote-files.js'
import { fileResult, type FileResult } from '../report/types.js'
import { fileAttributes, folderMode, remoteAttributes, sourceFolders } from './attributes.js'
import { deliver, deliveryFor, refuseClimbing, type Delivery } from './deliver.js'
import { BufferReader } from './chunks.js'
import { RemoteFileReader } from './remote-reader.js'
import { readWholeRemote } from './whole-remote.js'
import { isTransient, runWithRetries, type Reconnectable } from './retry.js'
import { WHOLE_FILE_MAX, type SftpSession } from './session.js'
import { newRunToken } from './temp-names.js'
import { BatchLandings, landingSteps } from './landings.js'
import { FolderTurns } from './folder-turns.js'
import { filesAtOnce } from './link-width.js'
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

  /** Each file waits on both servers' round trips, so the farther one says how many it takes. */
  get filesInFlight(): number {
    const allowed = Math.min(this.source.openFilesAllowed, this.target.openFilesAllowed)
    return filesAtOnce(allowed, Math.max(this.source.roundTrip, this.target.roundTrip))
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

/**
 * Streams files from one server to another through the runner: read requests on the source
 * and write requests on the destination stay in flight together, nothing touches the runner's
 * disk, and memory is bounded by the requests in flight whatever the file size. The plan's files
 * are the jobs: a file's delivery (paths, watermark) exists only while it is in flight or
 * unfinished across a reconnect, so memory grows with the files in flight, not with the tree.
 */
export function relayFiles(
  connect: () => Promise<RelayPair>,
  target: string,
  files: RemoteFile[],
  options: TransferOptions
): Promise<FileResult[]> {
  // One token per server: fan-out servers sharing a file system never share a temporary file.
  const token = newRunToken()
  for (const file of files) refuseClimbing(target, file.rel)
  const landings = new BatchLandings(target, files, token)
  const started = new Map<RemoteFile, Delivery>()
  const turns = new FolderTurns()
  const deliveryOf = (file: RemoteFile, turn: number): Delivery => {
    let delivery = started.get(file)
    if (!delivery) {
      delivery = deliveryFor(target, file.rel, file.size, turn, options.verifySha256, token)
      delivery.readClock = landings.wantsClock(delivery)
      started.set(file, delivery)
    }
    delivery.turn = turn
    return delivery
  }
  let current: RelayPair | undefined
  const sidecars = options.verifySha256
    ? new SidecarChecksums(() => (current as RelayPair).source.main)
    : undefined
  const folders = sourceFolders(files, path.posix.dirname)
  const steps = landingSteps(
    target,
    landings,
    (pair: RelayPair) => pair.target,
    (pair, rel) => {
      const source = rel === undefined ? undefined : folders.get(rel)
      const sourceMode = async () => (await pair.source.main.stat(source as string)).mode
      return folderMode(options.preserve, source ? sourceMode : undefined)
    },
    options.times
  )
  return runWithRetries({
    jobs: files,
    what: options.what,
    retries: options.retries,
    concurrency: options.concurrency,
    connect,
    prepare: (pair, pending) =>
      steps.prepare(
        pair,
        pending.map(f => f.rel)
      ),
    run: async (pair, file, release) => {
      current = pair
      const width = Math.min(options.concurrency, pair.filesInFlight)
      const turn = turns.take(file.rel, pair.target.channels, width)
      // Counted until checked, as the file's place is (its handles are closed by then).
      const checked = (): void => {
        turn.give()
        release()
      }
      try {
        const delivery = deliveryOf(file, turn.turn)
        const result = await relayOne(
          pair,
          file,
          delivery,
          { ...options, release: checked },
          sidecars
        )
        started.delete(file)
        landings.landed(delivery)
        return result
      } finally {
        turn.give()
      }
    },
    finish: steps.finish,
    abandoned: (file, reason) =>
      fileResult(file.path, path.posix.join(target, file.rel), file.size, 'failed', reason)
  })
}

async function relayOne(
  pair: RelayPair,
  file: RemoteFile,
  delivery: Delivery,
  options: TransferOptions & { release: () => void },
  sidecars: SidecarChecksums | undefined
): Promise<FileResult> {
  const size = file.size
  // A small file is read whole (open, then read, end check and close together) while the
  // destination opens its temporary file: no source handle stays open across the write. The
  // lanes are chosen once the source admitted the file, so a big one spreads over the extra
  // connections admitting it opened.
  const open = async () => {
    const lanes = pair.source.lanesFor(size, delivery.turn)
    return size <= Math.min(WHOLE_FILE_MAX, lanes[0].maxReadLen)
      ? new BufferReader(await readWholeRemote(lanes[0], file.path, size))
      : RemoteFileReader.open(lanes, file.path, true)
  }
  try {
    const expected = await sidecars?.expectedFor(file.path)
    const setAttributes = fileAttributes(options.preserve, remoteAttributes(file))
    // Always source first, then destination: waits never form a cycle.
    const delivered = await pair.source.admit(size, () =>
      pair.target.admit(size, () =>
        deliver(pair.target, delivery, open, {
          ...options,
          ...(expected ? { expectedSha256: expected } : {}),
          ...(setAttributes ? { setAttributes } : {}),
          connection: pair
        })
      )
    )
    const row = fileResult(file.path, delivery.finalPath, file.size, 'transferred')
    return delivered.sha256 ? { ...row, sha256: delivered.sha256 } : row
  } catch (err) {
    if (isTransient(err, pair)) throw err
    await pair.target.main.unlink(delivery.tempPath).catch(() => undefined)
    return fileResult(file.path, delivery.finalPath, file.size, 'failed', (err as Error).message)
  }
}
