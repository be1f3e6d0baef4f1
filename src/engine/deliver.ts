import * as path from 'node:path'
import * as core from '@actions/core'
import { ActionError } from '../errors.js'
import { copyRange, Watermark, type ChunkReader } from './chunks.js'
import { RemoteFileWriter } from './remote-file.js'
import { killIfNetwork, type Reconnectable } from './retry.js'
import type { SftpSession } from './session.js'
import { SFTP_STATUS, type SftpError } from './sftp.js'
import { isTempName, RUN_TOKEN, tempNameFor } from './temp-names.js'

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
  /** Bytes of the temporary file known to be written, carried across reconnects. */
  written: Watermark
  /** Spreads small files over the channels. */
  turn: number
}

export function deliveryFor(target: string, rel: string, size: number, turn: number): Delivery {
  const finalPath = path.posix.join(target, rel)
  const tempName = tempNameFor(path.posix.basename(finalPath))
  const tempPath = path.posix.join(path.posix.dirname(finalPath), tempName)
  return { finalPath, tempPath, size, written: new Watermark(), turn }
}

/**
 * Writes a file to its temporary name beside the final one, checks the size the server reports,
 * then renames it into place, so nobody ever reads a half-written file under its real name.
 * After a reconnect it continues from the bytes the server acknowledged.
 */
export async function deliver(
  target: SftpSession,
  delivery: Delivery,
  openReader: () => Promise<OpenedReader>,
  onBytes: (n: number) => void,
  onNetworkError: Reconnectable = target
): Promise<void> {
  const resume = await resumePoint(target, delivery)
  const lanes = target.lanesFor(delivery.size, delivery.turn)
  const writer = await RemoteFileWriter.open(lanes, delivery.tempPath, resume)
  const reader = await openReader()
  try {
    await copyRange(reader, writer, delivery.size, delivery.written, onBytes)
    await reader.expectEnd?.(delivery.size)
  } catch (err) {
    killIfNetwork(onNetworkError)(err)
  } finally {
    await reader.close().catch(() => undefined)
    if (!onNetworkError.dead) await writer.close()
  }
  const written = await target.main.stat(delivery.tempPath)
  if (written.size !== delivery.size) {
    throw new ActionError(
      'Size mismatch',
      `the server holds ${written.size} bytes after the transfer, expected ${delivery.size}`
    )
  }
  await target.main.replace(delivery.tempPath, delivery.finalPath)
}

/** Whether to continue a temporary file an earlier connection left, trusting only its real size. */
async function resumePoint(session: SftpSession, delivery: Delivery): Promise<boolean> {
  if (delivery.written.value === 0) return false
  const existing = await session.main.stat(delivery.tempPath).catch((err: SftpError) => {
    if (err.code === SFTP_STATUS.NO_SUCH_FILE) return undefined
    throw err
  })
  delivery.written.rewind(existing?.size ?? 0)
  if (delivery.written.value > 0) {
    core.info(`Resuming ${delivery.finalPath} at byte ${delivery.written.value}.`)
  }
  return delivery.written.value > 0
}

/** Temporary files of earlier, interrupted runs in the directories this run wrote to. */
export async function removeStaleTemps(
  session: SftpSession,
  deliveries: Delivery[]
): Promise<void> {
  const dirs = [...new Set(deliveries.map(d => path.posix.dirname(d.finalPath)))]
  for (const dir of dirs) {
    const entries = await session.main.readdir(dir).catch(() => [])
    for (const entry of entries) {
      if (!entry.isFile || !isTempName(entry.name) || entry.name.includes(RUN_TOKEN)) continue
      const stale = path.posix.join(dir, entry.name)
      await session.main
        .unlink(stale)
        .then(() => core.info(`Removed ${stale}, left by an earlier interrupted run.`))
        .catch(() => undefined)
    }
  }
}
