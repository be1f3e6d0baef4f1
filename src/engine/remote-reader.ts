import { TransferError } from '../errors.js'
import { buffers, WRITE_HEADROOM } from './buffer-pool.js'
import type { ChunkReader } from './chunks.js'
import { openLanes } from './lanes.js'
import { RemoteFile } from './remote-file.js'
import type { SftpChannel } from './sftp.js'

export class RemoteFileReader extends RemoteFile implements ChunkReader {
  /** Room kept before each chunk read (see WRITE_HEADROOM). */
  private headroom = 0

  /**
   * With `withRoom`, each chunk keeps room in front: its READ answer is put together in place
   * and, in a relay, its WRITE request is built there (the buffer-pool's chunks are handed out).
   */
  static async open(channels: SftpChannel[], path: string, withRoom = false) {
    const lanes = await openLanes(channels, path, 'r', 'r')
    const reader = new RemoteFileReader(lanes, path, c => c.maxReadLen)
    if (withRoom) reader.headroom = WRITE_HEADROOM
    return reader
  }

  /** Servers may answer a read with fewer bytes than asked; ask again for the rest. */
  read(offset: number, length: number): Promise<Buffer> {
    return this.onLane(offset, length, async lane => {
      const buffer = buffers.take(length, this.headroom)
      let got = 0
      while (got < length) {
        // The chunk itself, not a view of it, while nothing was read: its room is its own.
        const n = await lane.channel.read(
          lane.handle,
          got === 0 ? buffer : buffer.subarray(got),
          length - got,
          offset + got
        )
        if (n === 0) {
          throw new TransferError(
            `${this.path} ended at ${offset + got} bytes, before the size the server reported; it was not kept.`
          )
        }
        got += n
      }
      return buffer
    })
  }

  /** Data past the reported size means the listing lied or the file grew: either way, refuse. */
  async expectEnd(size: number): Promise<void> {
    const lane = this.lanesOpen[0]
    const extra = await lane.channel.read(lane.handle, Buffer.allocUnsafe(1), 1, size)
    if (extra !== 0) {
      throw new TransferError(
        `${this.path} is longer than the ${size} bytes the server reported; it was not kept.`
      )
    }
  }
}
