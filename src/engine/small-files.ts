import * as path from 'node:path'
import { ActionError } from '../errors.js'
import type { SftpChannel } from './sftp.js'
import { newRunToken, tempNameFor } from './temp-names.js'

/**
 * Reads a small remote file whole (state files, checksum sidecars); refuses big ones. Its size is
 * asked first, then every read goes out at once, the last one a byte past that size to prove the
 * end: a 50,000-file sync state (3.5 MB) took 16 round trips one after another, each queued
 * behind the target's listing on the same channel, and was what the plan waited for last. A file
 * that grew since is read on to its end; one that shrank ends at its first short answer.
 */
export async function readSmallFile(
  channel: SftpChannel,
  remotePath: string,
  maxBytes = 4 * 1024 * 1024
): Promise<string> {
  const handle = await channel.open(remotePath, 'r')
  try {
    const { size } = await channel.fstat(handle)
    if (size > maxBytes) throw tooLarge(remotePath, maxBytes)
    const buffer = Buffer.allocUnsafe(size + 1)
    const pieces: Array<{ length: number; got: Promise<number> }> = []
    for (let at = 0; at <= size; at += channel.maxReadLen) {
      const length = Math.min(channel.maxReadLen, size + 1 - at)
      // OpenSSH answers a read with one read(2), so the last read coming back with every byte
      // up to the size is the end (see readWholeRemote); anything shorter is asked on. Other
      // servers may split answers anywhere: the end is asked for.
      const enough = channel.processesInOrder && at + length > size ? length - 1 : length
      const into = buffer.subarray(at, at + length)
      pieces.push({ length, got: readInto(channel, handle, into, at, enough) })
    }
    for (const p of pieces) p.got.catch(() => undefined)
    let total = 0
    for (const p of pieces) {
      const got = await p.got
      total += got
      if (got < p.length) return buffer.toString('utf8', 0, total)
    }
    return (await readOn(channel, handle, buffer, total, remotePath, maxBytes)).toString('utf8')
  } finally {
    await channel.close(handle).catch(() => undefined)
  }
}

/** Fills `into` from `position` on, as far as the file goes; resolves how many bytes came. */
async function readInto(
  channel: SftpChannel,
  handle: Buffer,
  into: Buffer,
  position: number,
  /** Bytes after which a short answer is taken for the end. */
  enough: number
): Promise<number> {
  let got = 0
  while (got < into.length) {
    const n = await channel.read(handle, into.subarray(got), into.length - got, position + got)
    if (n === 0) break
    got += n
    if (got >= enough) break
  }
  return got
}

/** The file grew past the size it had: reads on, one request at a time, to its end. */
async function readOn(
  channel: SftpChannel,
  handle: Buffer,
  first: Buffer,
  total: number,
  remotePath: string,
  maxBytes: number
): Promise<Buffer> {
  const chunks = [first]
  for (;;) {
    if (total > maxBytes) throw tooLarge(remotePath, maxBytes)
    const buffer = Buffer.allocUnsafe(Math.min(channel.maxReadLen, maxBytes + 1 - total))
    const n = await channel.read(handle, buffer, buffer.length, total)
    if (n === 0) return Buffer.concat(chunks)
    chunks.push(buffer.subarray(0, n))
    total += n
  }
}

function tooLarge(remotePath: string, maxBytes: number): ActionError {
  return new ActionError('File too large', `${remotePath} is larger than ${maxBytes} bytes`)
}

/** A small file's temporary file, opened before its content is known. */
export interface OpenedTemp {
  temp: string
  handle: Buffer
}

/** Opens the temporary file writeSmallFileAtomically writes `remotePath` through. */
export async function openSmallFileTemp(
  channel: SftpChannel,
  remotePath: string
): Promise<OpenedTemp> {
  // A fresh token per write: fan-out servers sharing a file system write this file at once.
  const temp = path.posix.join(
    path.posix.dirname(remotePath),
    tempNameFor(path.posix.basename(remotePath), newRunToken())
  )
  return { temp, handle: await channel.open(temp, 'w') }
}

/**
 * Writes a small remote file through a temporary name and an atomic rename; into `opened`, a
 * temporary file from openSmallFileTemp on the same channel, when given.
 */
export async function writeSmallFileAtomically(
  channel: SftpChannel,
  remotePath: string,
  text: string,
  opened?: OpenedTemp
): Promise<void> {
  const data = Buffer.from(text, 'utf8')
  const { temp, handle } = opened ?? (await openSmallFileTemp(channel, remotePath))
  const pieces: Buffer[] = []
  for (let offset = 0; offset < data.length; offset += channel.maxWriteLen) {
    pieces.push(data.subarray(offset, offset + channel.maxWriteLen))
  }
  if (channel.processesInOrder) {
    // The server answers in order: every write, the size check and the close go out together,
    // one round trip between the open and the rename however big the state.
    const sent = pieces.map((piece, i) => channel.write(handle, piece, i * channel.maxWriteLen))
    const [written, held, closed] = await Promise.allSettled([
      Promise.all(sent),
      channel.fstat(handle),
      channel.close(handle)
    ])
    for (const result of [written, held, closed])
      if (result.status === 'rejected') throw result.reason
    if (held.status === 'fulfilled') expectSize(remotePath, held.value.size, data.length)
  } else {
    try {
      for (const [i, piece] of pieces.entries()) {
        await channel.write(handle, piece, i * channel.maxWriteLen)
      }
      expectSize(remotePath, (await channel.fstat(handle)).size, data.length)
    } finally {
      await channel.close(handle)
    }
  }
  await channel.replace(temp, remotePath)
}

/** What the server holds must be what was sent, before the rename puts it in place. */
function expectSize(remotePath: string, held: number, sent: number): void {
  if (held !== sent) {
    throw new ActionError(
      'Size mismatch',
      `the server holds ${held} bytes of ${remotePath} after the write, expected ${sent}`
    )
  }
}
