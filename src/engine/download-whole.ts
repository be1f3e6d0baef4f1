import { createHash } from 'node:crypto'
import { ConnectionError } from '../errors.js'
import type { RemoteFile } from '../plans/remote-files.js'
import { timed } from '../report/timings.js'
import { fileAttributes, remoteAttributes, type FileAttributes } from './attributes.js'
import { buffers } from './buffer-pool.js'
import type { LandingThread } from './landing-thread.js'
import type { TransferOptions } from './options.js'
import { checkAgainstServer, checkAgainstSidecar } from './remote-hash.js'
import type { SftpSession } from './session.js'
import type { SftpChannel } from './sftp.js'
import type { SidecarChecksums } from './sidecars.js'
import { readWholeRemote } from './whole-remote.js'

/** What the small files of one download share (download.ts's Run). */
export interface WholeRun {
  options: TransferOptions
  sidecars: SidecarChecksums | undefined
  landing: LandingThread
}

/**
 * A small file: open, then one read of the listed size, the end check and the close sent
 * together; checked in memory, then written and renamed into place at once on the landing
 * thread, the file keeping its place meanwhile (given to the next file, the places ran ahead
 * of the thread and held 60 MiB more at the peak). A dropped connection leaves nothing on disk
 * to resume: the next attempt reads it again.
 */
export function fetchWhole(
  session: SftpSession,
  channel: SftpChannel,
  file: RemoteFile,
  tempPath: string,
  finalPath: string,
  run: WholeRun
): Promise<string | void> {
  const { options } = run
  const attrs = fileAttributes(options.preserve, remoteAttributes(file))
  // A byte more than the file: readWholeRemote's read that also finds the end lands there.
  const buffer = buffers.take(file.size + 1)
  // readWholeRemote settles only once every request it sent did: nothing fills `buffer` later.
  return readWholeRemote(channel, file.path, file.size, buffer).then(
    data => {
      options.onBytes(data.length)
      if (!options.verifySha256) return handOver(tempPath, finalPath, data, attrs, buffer, run)
      return checkWhole(session, file, data, run).then(
        sha256 => handOver(tempPath, finalPath, data, attrs, buffer, run).then(() => sha256),
        (err: unknown) => {
          buffers.give(buffer)
          throw err
        }
      )
    },
    (err: unknown) => {
      // An abort settles before every answer came: on a connection that still lives (an extra
      // one whose other channel closed) a late READ answer could still fill `buffer`, so it is
      // left to the collector instead of the next file.
      if (!(err instanceof ConnectionError)) buffers.give(buffer)
      throw err
    }
  )
}

/** With `verify: sha256`, the bytes received checked before they land. */
async function checkWhole(
  session: SftpSession,
  file: RemoteFile,
  data: Buffer,
  run: WholeRun
): Promise<string> {
  const received = createHash('sha256').update(data).digest('hex')
  await timed(run.options.times, 'verify', async () => {
    checkAgainstSidecar(received, await run.sidecars?.expectedFor(file.path))
    await checkAgainstServer(session, file.path, file.size, received, 'received')
  })
  return received
}

/** Hands the bytes to the landing thread (which copies them) and `buffer` back to the pool. */
function handOver(
  tempPath: string,
  finalPath: string,
  data: Buffer,
  attrs: FileAttributes | undefined,
  buffer: Buffer,
  run: WholeRun
): Promise<void> {
  try {
    return run.landing.land(tempPath, finalPath, data, attrs)
  } finally {
    buffers.give(buffer)
  }
}
