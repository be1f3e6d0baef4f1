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
    for (;;) {
      const buffer = Buffer.allocUnsafe(Math.min(channel.maxReadLen, maxBytes + 1 - total))
      const n = await channel.read(handle, buffer, buffer.length, total)
      if (n === 0) break
      chunks.push(buffer.subarray(0, n))
      total += n
      if (total > maxBytes) {
        throw new ActionError('File too large', `${remotePath} is larger than ${maxBytes} bytes`)
      }
    }
    return Buffer.concat(chunks).toString('utf8')
  } finally {
    await channel.close(handle).catch(() => undefined)
  }
}

/** Writes a small remote file through a temporary name and an atomic rename. */
export async function writeSmallFileAtomically(
  channel: SftpChannel,
  remotePath: string,
  text: string
): Promise<void> {
  // A fresh token per write: fan-out servers sharing a file system write this file at once.
  const temp = path.posix.join(
    path.posix.dirname(remotePath),
    tempNameFor(path.posix.basename(remotePath), newRunToken())
  )
  const data = Buffer.from(text, 'utf8')
  const handle = await channel.open(temp, 'w')
  try {
    for (let offset = 0; offset < data.length; offset += channel.maxWriteLen) {
      await channel.write(handle, data.subarray(offset, offset + channel.maxWriteLen), offset)
    }
  } finally {
    await channel.close(handle)
  }
  await channel.replace(temp, remotePath)
}
