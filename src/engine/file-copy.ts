import { open as openLocal, type FileHandle } from 'node:fs/promises'
import { TransferError } from '../errors.js'
import type { SftpChannel } from './sftp.js'

/** Requests kept in flight per file: enough to cover the round trip, bounded for memory. */
export const REQUESTS_PER_FILE = 16

/** Where bytes go or come from on one channel: the channel and a handle opened on it. */
interface Lane {
  channel: SftpChannel
  handle: Buffer
}

/**
 * Uploads a local file into `remotePath` with many WRITE requests in flight. With several
 * channels the file is spread over all of them, so one channel's fixed 2 MiB window does not cap
 * the speed. Memory is bounded by requests in flight times chunk size, not by file size.
 * Resolves once the remote file is closed and its size equals the local size.
 */
export async function putFile(
  channels: SftpChannel[],
  localPath: string,
  remotePath: string,
  size: number,
  onBytes: (n: number) => void
): Promise<void> {
  const local = await openLocal(localPath, 'r')
  const lanes: Lane[] = []
  try {
    lanes.push(...(await openLanes(channels, remotePath, size)))
    const chunk = Math.min(...lanes.map(l => l.channel.maxWriteLen))
    await runChunks(size, chunk, lanes.length, async (offset, length, lane) => {
      const buffer = Buffer.allocUnsafe(length)
      const { bytesRead } = await local.read(buffer, 0, length, offset)
      if (bytesRead !== length) {
        throw new TransferError(
          `${localPath} changed while it was being uploaded (it got shorter).`
        )
      }
      await lanes[lane].channel.write(lanes[lane].handle, buffer, offset)
      onBytes(length)
    })
  } finally {
    await closeLanes(lanes)
    await local.close()
  }
  const written = await channels[0].stat(remotePath)
  if (written.size !== size) {
    throw new TransferError(
      `${remotePath} holds ${written.size} bytes after upload, expected ${size}; it was not kept.`
    )
  }
}

/**
 * Downloads `remotePath` into a local file with many READ requests in flight. `expectedSize` is
 * the size the server reported; data shorter or longer than that fails the file.
 */
export async function getFile(
  channels: SftpChannel[],
  remotePath: string,
  localPath: string,
  expectedSize: number,
  onBytes: (n: number) => void
): Promise<void> {
  const local = await openLocal(localPath, 'w', 0o600)
  const lanes: Lane[] = []
  try {
    for (const channel of channels) {
      lanes.push({ channel, handle: await channel.open(remotePath, 'r') })
    }
    const chunk = Math.min(...lanes.map(l => l.channel.maxReadLen))
    await runChunks(expectedSize, chunk, lanes.length, async (offset, length, lane) => {
      const data = await readExactly(lanes[lane], remotePath, offset, length)
      await writeAll(local, data, offset)
      onBytes(length)
    })
    await expectEndOfFile(lanes[0], remotePath, expectedSize)
  } finally {
    await closeLanes(lanes)
    await local.close()
  }
}

async function openLanes(channels: SftpChannel[], path: string, size: number): Promise<Lane[]> {
  // The first open truncates; the others must not, or they would wipe bytes already written.
  const first = { channel: channels[0], handle: await channels[0].open(path, 'w') }
  const lanes = [first]
  if (size === 0) return lanes
  for (const channel of channels.slice(1)) {
    lanes.push({ channel, handle: await channel.open(path, 'r+') })
  }
  return lanes
}

async function closeLanes(lanes: Lane[]): Promise<void> {
  const results = await Promise.allSettled(lanes.map(l => l.channel.close(l.handle)))
  const failed = results.find(r => r.status === 'rejected')
  if (failed && failed.status === 'rejected') throw failed.reason
}

/**
 * Runs `work` for every chunk of a `size`-byte file with REQUESTS_PER_FILE in flight per lane.
 * Chunks go to lanes in contiguous stripes so each channel sees mostly sequential offsets.
 */
async function runChunks(
  size: number,
  chunk: number,
  laneCount: number,
  work: (offset: number, length: number, lane: number) => Promise<void>
): Promise<void> {
  let next = 0
  let failed = false
  const worker = async (lane: number): Promise<void> => {
    while (!failed && next < size) {
      const offset = next
      const length = Math.min(chunk, size - offset)
      next += length
      try {
        await work(offset, length, lane)
      } catch (err) {
        failed = true
        throw err
      }
    }
  }
  const workers: Promise<void>[] = []
  for (let lane = 0; lane < laneCount; lane++) {
    for (let i = 0; i < REQUESTS_PER_FILE; i++) workers.push(worker(lane))
  }
  const results = await Promise.allSettled(workers)
  const rejected = results.find(r => r.status === 'rejected')
  if (rejected && rejected.status === 'rejected') throw rejected.reason
}

async function readExactly(lane: Lane, path: string, offset: number, length: number) {
  const buffer = Buffer.allocUnsafe(length)
  let got = 0
  while (got < length) {
    const n = await lane.channel.read(lane.handle, buffer.subarray(got), length - got, offset + got)
    if (n === 0) {
      throw new TransferError(
        `${path} ended at ${offset + got} bytes, shorter than the size the server reported; it was not kept.`
      )
    }
    got += n
  }
  return buffer
}

async function expectEndOfFile(lane: Lane, path: string, size: number): Promise<void> {
  const probe = Buffer.allocUnsafe(1)
  const extra = await lane.channel.read(lane.handle, probe, 1, size)
  if (extra !== 0) {
    throw new TransferError(
      `${path} is longer than the ${size} bytes the server reported; it was not kept.`
    )
  }
}

async function writeAll(file: FileHandle, data: Buffer, position: number): Promise<void> {
  let done = 0
  while (done < data.length) {
    const { bytesWritten } = await file.write(data, done, data.length - done, position + done)
    done += bytesWritten
  }
}
