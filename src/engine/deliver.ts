import * as path from 'node:path'
import * as core from '@actions/core'
import { forLog } from '../escape.js'
import { ActionError, TransferError } from '../errors.js'
import { printableName } from '../plans/safe-names.js'
import { timed, type PhaseTimes } from '../report/timings.js'
import { refusedTimes, type FileAttributes } from './attributes.js'
import { buffers, hasWriteHeadroom } from './buffer-pool.js'
import { copyRange, Watermark, type ChunkReader, type RequestBudget } from './chunks.js'
import { RemoteFileWriter } from './remote-file.js'
import { checkAgainstServer, checkAgainstSidecar, type HashMethod } from './remote-hash.js'
import { killsSession, type Reconnectable } from './retry.js'
import type { SftpSession } from './session.js'
import { SFTP_STATUS, type SftpError } from './sftp.js'
import { tempNameFor } from './temp-names.js'

/** A source of bytes for one file, opened per attempt. */
export interface OpenedReader extends ChunkReader {
  close(): Promise<void>
  /** Proves the source holds no more than `size` bytes (remote sources may lie about size). */
  expectEnd?(size: number): Promise<void>
}

/** One file to land on a server, and what survives a reconnect. */
export interface Delivery {
  finalPath: string
  tempPath: string
  size: number
  /** Bytes of the temporary file known to be written (and their hash), across reconnects. */
  written: Watermark
  /** Spreads small files over the channels. */
  turn: number
  /** The server's mtime of the temporary file once written: a reading of the server's clock. */
  landedMtime?: number
  /**
   * False when no reading of the server's clock is wanted from this file (its folder has a
   * recent one), which spares a one-chunk file its stat (see RemoteFileWriter.finishWhole).
   */
  readClock?: boolean
}

export interface DeliverOptions {
  onBytes: (n: number) => void
  /** Check the server's copy against the SHA-256 of the bytes sent, before the rename. */
  verifySha256: boolean
  /** A hash the content must have (a sidecar checksum), checked before the rename. */
  expectedSha256?: { hash: string; source: string }
  /** What to tear down on a network error (both ends, for a relay). */
  connection?: Reconnectable
  times?: PhaseTimes
  /** Times and mode set on the temporary file before the rename (`preserve`, `chmod`). */
  setAttributes?: FileAttributes
  /** Called once the file is checked and only its rename is left (see RetryPlan.run). */
  release?: () => void
  /** Called once the rename is sent, with what will have landed when it is done. */
  renaming?: (delivered: Delivered) => void
}

/** What landed: the server's view of the file, and its hash when one was computed. */
export interface Delivered {
  mtime: number
  sha256?: string
  hashMethod?: HashMethod
}

export function deliveryFor(
  target: string,
  rel: string,
  size: number,
  turn: number,
  hash: boolean,
  token: string
): Delivery {
  refuseClimbing(target, rel)
  // `rel` has no empty, `.` or `..` part, so joining it cannot change what comes before it:
  // the target is normalized once, not each of tens of thousands of paths.
  const finalPath = prefixFor(target) + rel
  const slash = finalPath.lastIndexOf('/')
  const tempPath = finalPath.slice(0, slash + 1) + tempNameFor(finalPath.slice(slash + 1), token)
  return { finalPath, tempPath, size, written: new Watermark(0, hash), turn }
}

let lastPrefix: { target: string; prefix: string } | undefined

/** What path.posix.join(target, rel) puts before a `rel` refuseClimbing accepts. */
export function prefixFor(target: string): string {
  if (lastPrefix?.target !== target) {
    const normal = path.posix.normalize(target)
    const prefix =
      normal === '.' || normal === './' ? '' : normal.endsWith('/') ? normal : `${normal}/`
    lastPrefix = { target, prefix }
  }
  return lastPrefix.prefix
}

/** An empty, `.` or `..` part, or a NUL anywhere. */
const CLIMBING = /(?:^|\/)\.{0,2}(?:\/|$)|\0/

/**
 * Names were checked when listed; this is the last line before a remote path is written, so it
 * refuses only what would climb out of the target (a local name may hold a `\`).
 */
export function refuseClimbing(target: string, rel: string): void {
  if (CLIMBING.test(rel)) {
    throw new TransferError(`Refused to write '${printableName(rel)}': it would leave ${target}.`)
  }
}

/**
 * Writes a file to its temporary name beside the final one, checks what the server holds, then
 * renames it into place, so nobody ever reads a half-written file under its real name. After a
 * reconnect it continues from the bytes the server acknowledged.
 */
export async function deliver(
  target: SftpSession,
  delivery: Delivery,
  openReader: () => Promise<OpenedReader>,
  options: DeliverOptions
): Promise<Delivered> {
  const connection = options.connection ?? target
  // A first attempt has nothing to resume, and most files never have another.
  const resume =
    delivery.written.value === 0 ? startOver(delivery) : await resumePoint(target, delivery)
  const lanes = target.lanesFor(delivery.size, delivery.turn)
  // Both ends open at once (for a relay, each is a round trip to its own server). Indexed, not
  // destructured: an array pattern walks an iterator, garbage for every file.
  const opened = await Promise.allSettled([
    RemoteFileWriter.open(lanes, delivery.tempPath, resume),
    openReader()
  ])
  const openedWriter = opened[0]
  const openedReader = opened[1]
  if (openedWriter.status === 'rejected' || openedReader.status === 'rejected') {
    if (openedWriter.status === 'fulfilled') await openedWriter.value.close().catch(() => undefined)
    if (openedReader.status === 'fulfilled') await openedReader.value.close().catch(() => undefined)
    throw openedWriter.status === 'rejected'
      ? openedWriter.reason
      : (openedReader as PromiseRejectedResult).reason
  }
  const writer = openedWriter.value
  const reader = openedReader.value
  let landed
  try {
    landed = await transferAndFinish(reader, writer, delivery, resume, options, target.budget)
  } catch (err) {
    // A dead link is torn down first, so closing handles cannot wait on it; otherwise the
    // handles are closed (those `finish` already closed are skipped).
    if (killsSession(err, connection)) connection.kill()
    else await writer.close().catch(() => undefined)
    throw err
  } finally {
    await reader.close().catch(() => undefined)
  }
  delivery.landedMtime = landed.writtenAt
  if (landed.size !== delivery.size) {
    throw new ActionError(
      'Size mismatch',
      `the server holds ${landed.size} bytes after the transfer, expected ${delivery.size}`
    )
  }
  judgeAttributes(landed.attrsError, options.setAttributes, delivery.finalPath)
  // Nothing to check costs no closure or extra tick per file, and still shows in the timings.
  const checked = delivery.written.hashes
    ? await timed(options.times, 'verify', () => checkContent(target, delivery, options))
    : (options.times?.add('verify', 0), {})
  options.release?.()
  // On the file's own channel: renames spread over the server's sftp-server processes. Timed
  // here, not through timed(): a closure and a promise fewer per file.
  const renaming = performance.now()
  const renamed = lanes[0].replace(delivery.tempPath, delivery.finalPath)
  const delivered =
    checked.sha256 === undefined && checked.hashMethod === undefined
      ? { mtime: landed.mtime }
      : { mtime: landed.mtime, ...checked }
  options.renaming?.(delivered)
  try {
    await renamed
  } finally {
    options.times?.add('rename', performance.now() - renaming)
  }
  return delivered
}

async function transferAndFinish(
  reader: OpenedReader,
  writer: RemoteFileWriter,
  delivery: Delivery,
  resume: boolean,
  options: DeliverOptions,
  budget: RequestBudget
) {
  const { size, written } = delivery
  const { onBytes, setAttributes } = options
  if (resume || !writer.inOrder || size > Math.min(reader.chunkSize, writer.chunkSize)) {
    await copyRange(reader, writer, size, written, onBytes, budget)
    await reader.expectEnd?.(size)
    return writer.finish(setAttributes)
  }
  // One chunk: send the write, the check and the close together, one round trip for all three.
  const { wrote, done } = await sendWhole(reader, writer, size, written)
  const whole = { size, clock: delivery.readClock !== false }
  // Not Promise.all (an iterator's garbage per file). On this in-order server the write is
  // answered first, so its failure is the one to report either way; the finish is then only
  // kept from going unhandled.
  const finishing = writer.finish(setAttributes, whole)
  try {
    await wrote
  } catch (err) {
    finishing.catch(() => undefined)
    throw err
  }
  const landed = await finishing
  written.complete(0, done, true)
  onBytes(size)
  return landed
}

/**
 * Reads a one-chunk file and sends it. ssh2 copies the bytes into its request at once, so unless
 * they are hashed the buffer goes straight back to the pool, not held while the answers take a
 * round trip: held that long, with hundreds of files in flight, such buffers and their garbage
 * grew the step's memory by tens of MiB. A chunk with room in front is the exception: its WRITE
 * is sent from the chunk's own memory (writeInPlace), possibly later, once the channel's window
 * opens, so it goes back only when the write is answered (Watermark.complete).
 */
async function sendWhole(
  reader: OpenedReader,
  writer: RemoteFileWriter,
  size: number,
  written: Watermark
): Promise<{ wrote: Promise<void>; done: Buffer | number }> {
  const data = size > 0 ? await reader.read(0, size) : Buffer.alloc(0)
  // A local file has no expectEnd: no await (a tick per file) for nothing.
  if (reader.expectEnd) await reader.expectEnd(size)
  const wrote = size > 0 ? writer.write(0, data) : Promise.resolve()
  if (written.hashes || hasWriteHeadroom(data)) return { wrote, done: data }
  buffers.give(data)
  return { wrote, done: size }
}

/** A mode that was asked for must hold; times kept by default may be refused with a warning. */
function judgeAttributes(
  err: Error | undefined,
  attrs: FileAttributes | undefined,
  finalPath: string
): void {
  if (!err || !attrs) return
  if (attrs.mode === undefined) return refusedTimes('The server', err)
  throw new TransferError(
    `the server refused to set mode ${attrs.mode.toString(8).padStart(3, '0')}` +
      `${attrs.mtime !== undefined ? ' and the times' : ''} on ${printableName(finalPath)}: ` +
      `${err.message}; it was not put in place.`
  )
}

async function checkContent(
  target: SftpSession,
  delivery: Delivery,
  options: DeliverOptions
): Promise<{ sha256?: string; hashMethod?: HashMethod }> {
  const sent = delivery.written.digest()
  if (!sent) return {}
  checkAgainstSidecar(sent, options.expectedSha256)
  if (!options.verifySha256) return { sha256: sent }
  const { tempPath, size } = delivery
  const hashMethod = await checkAgainstServer(target, tempPath, size, sent, 'sent')
  return { sha256: sent, hashMethod }
}

/** Starting over truncates the file: nothing an earlier attempt left may count (see dropAhead). */
function startOver(delivery: Delivery): false {
  delivery.written.rewind(0)
  return false
}

/** Whether to continue a temporary file an earlier connection left, trusting only its real size. */
async function resumePoint(session: SftpSession, delivery: Delivery): Promise<boolean> {
  if (delivery.written.value === 0) return startOver(delivery)
  const existing = await session.main.stat(delivery.tempPath).catch((err: SftpError) => {
    if (err.code === SFTP_STATUS.NO_SUCH_FILE) return undefined
    throw err
  })
  delivery.written.rewind(existing?.size ?? 0)
  if (delivery.written.value > 0) {
    core.info(`Resuming ${forLog(delivery.finalPath)} at byte ${delivery.written.value}.`)
  }
  return delivery.written.value > 0
}
