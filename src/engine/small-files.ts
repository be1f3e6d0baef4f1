import * as path from 'node:path'
import { ActionError } from '../errors.js'
import type { SftpChannel } from './sftp.js'
import { newRunToken, tempNameFor } from './temp-names.js'

/**
 * Reads a small remote file whole (state files, checksum sidecars); refuses big ones. Its size is
 * asked with the first read, so a file that read holds costs one round trip; the rest of a bigger
 * one is then asked for all at once, the last read reaching a byte past that size: a
 * 50,000-file sync state (3.5 MB) took 16 round trips one after another, each queued behind the
 * target's listing on the same channel, and was what the plan waited for last. A short answer
 * that reaches the size is the end (the file is open, and the action replaces such files by
 * renaming, never in place); a file that grew since is read on to its end, one that shrank ends
 * at its first short answer.
 */
export async function readSmallFile(
  channel: SftpChannel,
  remotePath: string,
  maxBytes = 4 * 1024 * 1024
): Promise<string> {
  const handle = await channel.open(remotePath, 'r')
  try {
    const sized = channel.fstat(handle).then(
      info => info.size,
      () => undefined
    )
    const first = Buffer.allocUnsafe(Math.min(channel.maxReadLen, maxBytes + 1))
    const got = await channel.read(handle, first, first.length, 0)
    const size = await sized
    if (size !== undefined && size > maxBytes) throw tooLarge(remotePath, maxBytes)
    if (got === 0 || (size !== undefined && got < first.length && got >= size)) {
      return first.toString('utf8', 0, got)
    }
    if (size === undefined || got > size) {
      return (
        await readOn(channel, handle, first.subarray(0, got), remotePath, maxBytes)
      ).toString()
    }
    const buffer = Buffer.allocUnsafe(size + 1)
    first.copy(buffer, 0, 0, got)
    const pieces: Array<{ length: number; got: Promise<number> }> = []
    for (let at = got; at <= size; at += channel.maxReadLen) {
      const length = Math.min(channel.maxReadLen, size + 1 - at)
      const into = buffer.subarray(at, at + length)
      const enough = at + length > size ? size - at : length
      pieces.push({ length, got: readInto(channel, handle, into, at, enough) })
    }
    for (const p of pieces) p.got.catch(() => undefined)
    let total = got
    for (const p of pieces) {
      const n = await p.got
      total += n
      if (n < p.length) return buffer.toString('utf8', 0, total)
    }
    return (await readOn(channel, handle, buffer, remotePath, maxBytes)).toString('utf8')
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

/** Reads on from the end of `first`, one request at a time, to the file's end. */
async function readOn(
  channel: SftpChannel,
  handle: Buffer,
  first: Buffer,
  remotePath: string,
  maxBytes: number
): Promise<Buffer> {
  const chunks = [first]
  let total = first.length
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
  const temp = await writeSmallFileTemp(channel, remotePath, text, opened)
  await channel.replace(temp, remotePath)
}

/**
 * The first half of writeSmallFileAtomically: `text` written to a temporary name beside
 * `remotePath`, checked and closed. Returns that name, for the rename that puts it in place.
 */
export async function writeSmallFileTemp(
  channel: SftpChannel,
  remotePath: string,
  text: string,
  opened?: OpenedTemp
): Promise<string> {
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
  return temp
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
