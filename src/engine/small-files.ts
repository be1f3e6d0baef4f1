import * as path from 'node:path'
import { ActionError } from '../errors.js'
import type { SftpChannel } from './sftp.js'
import { newRunToken, tempNameFor } from './temp-names.js'

/** Reads a small remote file whole (state files, checksum sidecars); refuses big ones. */
export async function readSmallFile(
  channel: SftpChannel,
  remotePath: string,
  maxBytes = 4 * 1024 * 1024
): Promise<string> {
  const handle = await channel.open(remotePath, 'r')
  try {
    const chunks: Buffer[] = []
    let total = 0
    // The file's size is asked for with the first read: a file that read holds whole then needs
    // no second read to find its end.
    let size: Promise<number | undefined> | undefined = channel.fstat(handle).then(
      info => info.size,
      () => undefined
    )
    for (;;) {
      const buffer = Buffer.allocUnsafe(Math.min(channel.maxReadLen, maxBytes + 1 - total))
      const n = await channel.read(handle, buffer, buffer.length, total)
      if (n === 0) break
      chunks.push(buffer.subarray(0, n))
      total += n
      if (total > maxBytes) {
        throw new ActionError('File too large', `${remotePath} is larger than ${maxBytes} bytes`)
      }
      if (size && n < buffer.length && (await size) === total) break
      size = undefined
    }
    return Buffer.concat(chunks).toString('utf8')
  } finally {
    await channel.close(handle).catch(() => undefined)
  }
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
