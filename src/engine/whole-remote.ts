import { TransferError } from '../errors.js'
import { RemoteFileReader } from './remote-reader.js'
import type { SftpChannel } from './sftp.js'

/**
 * Reads a small remote file (at most one read request) whole, proving it ends at `size`. After
 * the handle arrives, the reads and, on a server that answers in order, the close all go out
 * together: two round trips per file instead of four. On OpenSSH (processesInOrder) one read asks
 * for a byte more than `size`: its sftp-server answers a READ with a single read(2), which on a
 * regular file returns every byte there is up to the length asked, so an answer of `size` bytes
 * is the end, and one of `size + 1` a file longer than listed. That read stands for the one-byte
 * read at `size` other servers get, a request and an answer fewer per file for both sides (a
 * twelfth of the main thread's work in a 50,000-file pull). A short answer (the file shrank,
 * or a server that splits reads) is completed by reading on from a fresh handle, then the end
 * proven by its own read. `into` (at least `size + 1` bytes) is filled instead of a new buffer.
 */
export function readWholeRemote(
  channel: SftpChannel,
  path: string,
  size: number,
  into?: Buffer
): Promise<Buffer> {
  const room =
    into && into.length > size
      ? into.length === size + 1
        ? into
        : into.subarray(0, size + 1)
      : Buffer.allocUnsafe(size + 1)
  if (!(channel.processesInOrder && size < channel.maxReadLen)) {
    return readSeparately(channel, path, size, room)
  }
  // No async frame or promise per request on this way: every small file of a pull takes it.
  return channel.readWhole(path, room, size + 1).then(got => {
    if (got > size) throw longer(path, size)
    const buffer = room.subarray(0, size)
    return got < size ? readRest(channel, path, buffer, got, true) : buffer
  })
}

/** Other servers: the read, the one-byte read at `size`, then the close once both answered. */
async function readSeparately(
  channel: SftpChannel,
  path: string,
  size: number,
  room: Buffer
): Promise<Buffer> {
  const handle = await channel.open(path, 'r')
  const buffer = room.subarray(0, size)
  const first = size > 0 ? channel.read(handle, room, size, 0) : Promise.resolve(0)
  const end = channel.read(handle, Buffer.allocUnsafe(1), 1, size)
  const closed = channel.processesInOrder
    ? channel.close(handle)
    : Promise.allSettled([first, end]).then(() => channel.close(handle))
  const [got, extra, close] = await Promise.allSettled([first, end, closed])
  if (got.status === 'rejected') throw got.reason
  if (extra.status === 'rejected') throw extra.reason
  if (close.status === 'rejected') throw close.reason
  if (extra.value !== 0) throw longer(path, size)
  return got.value < size ? readRest(channel, path, buffer, got.value, false) : buffer
}

/**
 * After a short answer: the rest read from a fresh handle, and where one read stood for the end
 * probe (`probeEnd`), the end proven by a read of its own.
 */
async function readRest(
  channel: SftpChannel,
  path: string,
  buffer: Buffer,
  got: number,
  probeEnd: boolean
): Promise<Buffer> {
  const size = buffer.length
  const reader = await RemoteFileReader.open([channel], path)
  try {
    const rest = await reader.read(got, size - got)
    rest.copy(buffer, got)
    // A short answer says nothing of the end: ask for it (the in-order read above stood for it).
    if (probeEnd) await reader.expectEnd(size)
  } finally {
    await reader.close().catch(() => undefined)
  }
  return buffer
}

function longer(path: string, size: number): TransferError {
  return new TransferError(
    `${path} is longer than the ${size} bytes the server reported; it was not kept.`
  )
}
