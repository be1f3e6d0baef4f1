import type { FileAttributes } from './attributes.js'
import type { ChunkWriter } from './chunks.js'
import { closeLanes, openLanes, type Lane } from './lanes.js'
import type { RemoteStat, SftpChannel } from './sftp.js'

/**
 * Bytes of one file written through one connection at a time when its lanes span several
 * connections, which happens only behind a jump host: each connection rides one forwarded
 * channel, which carries its window (2 MiB on OpenSSH) per round trip. Twice that keeps the
 * channel full while answers travel back; more would only wait in ssh2's buffers, already
 * encrypted for the server, so the first answers came late and memory grew with no gain.
 */
export const FORWARDED_BYTES_IN_FLIGHT = 4 * 1024 * 1024

/**
 * One remote file opened on one or more SFTP channels. Each channel has its own fixed 2 MiB
 * window in ssh2, so spreading a big file's requests over several channels lifts that ceiling.
 * On one connection, ranges go to lanes in stripes of whole chunks so each channel sees mostly
 * sequential offsets. Lanes on several connections (behind a jump host) are not equal: each
 * connection rides its own forwarded channel, whose window caps it, and the first one carries
 * more lanes. Stripes would give each connection a fixed share, and the file would wait on the
 * one with the most; instead each request goes to the connection with the fewest bytes in
 * flight, so each takes what it can carry and they finish together.
 */
export abstract class RemoteFile {
  readonly chunkSize: number
  /** Lanes by connection, when they span several; bytes in flight per lane and per connection. */
  private readonly connections: Array<{ lanes: Lane[]; bytes: number }> | undefined
  private readonly laneBytes: Map<Lane, number> | undefined
  /** Requests waiting for a connection with room under `connectionCap`. */
  private readonly waiting: Array<() => void> = []

  protected constructor(
    protected readonly lanesOpen: Lane[],
    protected readonly path: string,
    chunk: (channel: SftpChannel) => number,
    /** Bytes of this file one connection may have in flight when lanes span several. */
    private readonly connectionCap = Infinity
  ) {
    if (lanesOpen.length === 1) {
      this.chunkSize = chunk(lanesOpen[0].channel)
      return
    }
    this.chunkSize = Math.min(...lanesOpen.map(l => chunk(l.channel)))
    const groups: Lane[][] = []
    for (const lane of lanesOpen) {
      const group = groups.find(g => g[0].channel.sharesConnectionWith(lane.channel))
      if (group) group.push(lane)
      else groups.push([lane])
    }
    if (groups.length > 1) {
      this.connections = groups.map(lanes => ({ lanes, bytes: 0 }))
      this.laneBytes = new Map()
    }
  }

  get lanes(): number {
    return this.lanesOpen.length
  }

  /** Runs one request of `bytes` on the lane `offset` goes to, counting it while in flight. */
  protected onLane<T>(
    offset: number,
    bytes: number,
    request: (lane: Lane) => Promise<T>
  ): Promise<T> {
    const { connections, laneBytes, lanesOpen } = this
    if (!connections || !laneBytes) {
      return request(
        lanesOpen.length === 1
          ? lanesOpen[0]
          : lanesOpen[Math.floor(offset / this.chunkSize) % lanesOpen.length]
      )
    }
    return this.onLeastLoaded(connections, laneBytes, bytes, request)
  }

  private async onLeastLoaded<T>(
    connections: Array<{ lanes: Lane[]; bytes: number }>,
    laneBytes: Map<Lane, number>,
    bytes: number,
    request: (lane: Lane) => Promise<T>
  ): Promise<T> {
    const connection = await this.roomFor(connections, bytes)
    const lane = connection.lanes.reduce((a, b) =>
      (laneBytes.get(b) ?? 0) < (laneBytes.get(a) ?? 0) ? b : a
    )
    laneBytes.set(lane, (laneBytes.get(lane) ?? 0) + bytes)
    try {
      return await request(lane)
    } finally {
      connection.bytes -= bytes
      laneBytes.set(lane, (laneBytes.get(lane) ?? 0) - bytes)
      this.waiting.shift()?.()
    }
  }

  /**
   * The connection with the fewest bytes in flight, once it has room for `bytes` more, with
   * them counted (before any other request can look). One with nothing in flight always has
   * room, so a request waits only while every connection has requests whose answers (or
   * failures) will wake it.
   */
  private async roomFor<C extends { bytes: number }>(connections: C[], bytes: number): Promise<C> {
    for (let woken = false; ; woken = true) {
      const least = connections.reduce((a, b) => (b.bytes < a.bytes ? b : a))
      const queued = this.waiting.length > 0 && !woken
      if (!queued && (least.bytes === 0 || least.bytes + bytes <= this.connectionCap)) {
        least.bytes += bytes
        return least
      }
      // A request woken for room it then finds taken keeps its place at the front.
      await new Promise<void>(resolve =>
        woken ? this.waiting.unshift(resolve) : this.waiting.push(resolve)
      )
    }
  }

  close(): Promise<void> {
    return closeLanes(this.lanesOpen)
  }
}

export class RemoteFileWriter extends RemoteFile implements ChunkWriter {
  /**
   * Opens `path` for writing on every channel. Unless resuming, the first open truncates; the
   * others never do, or they would wipe bytes already written through the first.
   */
  static open(channels: SftpChannel[], path: string, resume: boolean): Promise<RemoteFileWriter> {
    return openLanes(channels, path, resume ? 'r+' : 'w', 'r+').then(
      lanes => new RemoteFileWriter(lanes, path, writeLength, FORWARDED_BYTES_IN_FLIGHT)
    )
  }

  write(offset: number, data: Buffer): Promise<void> {
    return this.onLane(offset, data.length, lane => lane.channel.write(lane.handle, data, offset))
  }

  /**
   * Sets `attrs` (times, mode) once every byte is written, asks the server what it holds (size,
   * mtime) and closes every handle. A refused attribute change comes back as `attrsError`, for
   * the caller to judge. `writtenAt` is the file's mtime before any time was set: the server's
   * own clock, which ages of other runs' temporary files are measured against. `whole`, from a
   * caller that sent the file in one write after the truncating open, on a server that answers
   * in order, skips the stat where the caller needs neither the size nor the clock from it (see
   * finishWhole).
   */
  finish(
    attrs?: FileAttributes,
    whole?: { size: number; clock: boolean }
  ): Promise<RemoteStat & { attrsError?: Error; writtenAt?: number }> {
    // Dispatched without an async frame of its own: one finish per file.
    if (!this.inOrder) return this.finishInTurn(attrs)
    if (whole && !whole.clock && attrs?.mtime !== undefined && attrs.atime !== undefined) {
      return this.finishWhole(whole.size, attrs, attrs.mtime, attrs.atime)
    }
    return this.finishTogether(attrs)
  }

  /** Each waits for the one before; the stat afterwards shows the times that stuck. */
  private async finishInTurn(
    attrs: FileAttributes | undefined
  ): Promise<RemoteStat & { attrsError?: Error; writtenAt?: number }> {
    const { channel, handle } = this.lanesOpen[0]
    const clock = attrs ? await channel.fstat(handle) : undefined
    const attrsError = await this.setAttributes(attrs)
    const info = await channel.fstat(handle)
    await this.close()
    return landed(info, attrsError, clock)
  }

  /**
   * The stat, the attributes and the close go out together, behind any write still in flight
   * on the same channel, which the server answers first: for a one-chunk file, write, check,
   * attributes and close cost a single round trip. The stat comes before the attributes, so
   * one request reads both the size and the server's clock: every request per file is work
   * for the server's sftp process, thousands of times over. OpenSSH sets the times it
   * acknowledges exactly (whole seconds, as sent), so what the file holds afterwards is known.
   */
  private async finishTogether(
    attrs: FileAttributes | undefined
  ): Promise<RemoteStat & { attrsError?: Error; writtenAt?: number }> {
    const { channel, handle } = this.lanesOpen[0]
    const [info, attrsError] = await Promise.all([
      channel.fstat(handle),
      this.setAttributes(attrs),
      this.close()
    ])
    return landed(attrsError ? info : withAttributes(info, attrs), attrsError, info)
  }

  /** Sets `attrs` on the first lane's handle; a refusal is the value, never a rejection. */
  private setAttributes(attrs: FileAttributes | undefined): Promise<Error | undefined> {
    if (!attrs) return Promise.resolve(undefined)
    const { channel, handle } = this.lanesOpen[0]
    return channel.fsetstat(handle, attrs).then(noError, asValue)
  }

  /**
   * A file written whole by one write right after its truncating open: OpenSSH's sftp-server
   * answers that WRITE with OK only when write(2) took every byte at the offset asked
   * (process_write), so an acknowledged write (the caller awaits it beside this) already says
   * the file holds exactly `size` bytes, as the stat would: nobody else writes a temporary name
   * carrying this run's token, and one who did could do it after the stat as well. The times
   * set are the mtime, so nothing is asked but the attributes and the close: a fifth fewer
   * requests per small file for the server's sftp process. Only a refusal of the times costs a
   * stat, of the closed file, for the mtime it really has.
   */
  private async finishWhole(
    size: number,
    attrs: FileAttributes,
    mtime: number,
    atime: number
  ): Promise<RemoteStat & { attrsError?: Error; writtenAt?: number }> {
    // Not Promise.all: it walks an iterator, garbage for every file. The attributes' promise
    // never rejects (a refusal is its value), so nothing is left unhandled if the close fails.
    const settingAttrs = this.setAttributes(attrs)
    await this.close()
    const attrsError = await settingAttrs
    if (!attrsError) {
      const mode = attrs.mode === undefined ? 0 : 0o100000 | attrs.mode
      return { isDirectory: false, isFile: true, isSymbolicLink: false, size, mtime, atime, mode }
    }
    const info = await this.lanesOpen[0].channel.stat(this.path)
    return { ...info, attrsError, writtenAt: info.mtime }
  }

  /** Whether requests on this file may be pipelined behind each other (see processesInOrder). */
  get inOrder(): boolean {
    return this.lanesOpen.every(l => l.channel.processesInOrder)
  }
}

function noError(): undefined {
  return undefined
}

function asValue(err: Error): Error {
  return err
}

function writeLength(channel: SftpChannel): number {
  return channel.maxWriteLen
}

/** A stat taken before `attrs` were set, as it reads once they are. */
function withAttributes(info: RemoteStat, attrs: FileAttributes | undefined): RemoteStat {
  if (!attrs) return info
  return {
    ...info,
    mtime: attrs.mtime ?? info.mtime,
    atime: attrs.atime ?? info.atime,
    mode: attrs.mode === undefined ? info.mode : (info.mode & ~0o7777) | attrs.mode
  }
}

function landed(
  info: RemoteStat,
  attrsError: Error | undefined,
  clock: RemoteStat | undefined
): RemoteStat & { attrsError?: Error; writtenAt: number } {
  const writtenAt = (clock ?? info).mtime
  return attrsError ? { ...info, attrsError, writtenAt } : { ...info, writtenAt }
}
