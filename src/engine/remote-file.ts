import * as core from '@actions/core'
import { TransferError } from '../errors.js'
import { forLog } from '../escape.js'
import type { FileAttributes } from './attributes.js'
import { buffers, WRITE_HEADROOM } from './buffer-pool.js'
import type { ChunkReader, ChunkWriter } from './chunks.js'
import { SFTP_STATUS, type RemoteStat, type SftpChannel, type SftpError } from './sftp.js'

interface Lane {
  channel: SftpChannel
  handle: Buffer
  /**
   * Set when CLOSE is sent. OpenSSH reuses handle values at once, so closing twice could close
   * another file's handle.
   */
  closed?: boolean
}

/**
 * Opens `path` on each channel: a read's lanes all at once, a write's in parallel after the first
 * (which creates the file the others open). If any open fails, the handles already opened are
 * closed: a failed attempt leaks nothing on the server. Lanes on another connection than the
 * first may have reached another backend (see sameFileOnly): one that lacks the file, or holds
 * another, is dropped and the file goes on with fewer lanes.
 */
async function openLanes(
  channels: SftpChannel[],
  path: string,
  firstFlags: 'r' | 'r+' | 'w',
  restFlags: 'r' | 'r+'
): Promise<Lane[]> {
  // Most files are small and have one lane: none of the spreading below applies, and with
  // tens of thousands of files its arrays and promises showed up in the collector's time.
  if (channels.length === 1)
    return [{ channel: channels[0], handle: await channels[0].open(path, firstFlags) }]
  const [head, ...others] = channels
  const elsewhere = (c: SftpChannel): boolean => !c.sharesConnectionWith(head)
  const spread = others.some(elsewhere)
  const opening = head.open(path, firstFlags)
  // Each other connection's stat is sent right behind its open, so which file it sees costs no
  // round trip of its own (see sameFileOnly).
  const send = () =>
    others.map(c => ({
      open: settle(c.open(path, restFlags)),
      stat: elsewhere(c) ? settle(c.stat(path)) : undefined
    }))
  // A read creates nothing, so all its lanes open at once; a write's other lanes open the file
  // its first open creates, so they wait for it (and the first lane's stat goes out with them).
  const together = firstFlags === 'r'
  const early = together ? send() : undefined
  const ownStat = together && spread ? settle(head.stat(path)) : undefined
  let first: Lane
  try {
    first = { channel: head, handle: await opening }
  } catch (err) {
    const handles = await Promise.all((early ?? []).map(r => r.open))
    await closeLanes(
      handles.flatMap((r, i) =>
        r.status === 'fulfilled' ? [{ channel: others[i], handle: r.value }] : []
      )
    ).catch(() => undefined)
    throw err
  }
  const requests = early ?? send()
  const own = ownStat ?? (spread ? settle(head.fstat(first.handle)) : undefined)
  const rest = await Promise.all(requests.map(r => r.open))
  const opened = rest.map((r, i) =>
    r.status === 'fulfilled' ? { channel: others[i], handle: r.value } : undefined
  )
  const lanes = [first, ...opened.filter((l): l is Lane => l !== undefined)]
  const failed = rest.find(
    (r, i) =>
      r.status === 'rejected' &&
      !(elsewhere(others[i]) && (r.reason as SftpError)?.code === SFTP_STATUS.NO_SUCH_FILE)
  )
  if (failed?.status === 'rejected') {
    await closeLanes(lanes).catch(() => undefined)
    throw failed.reason
  }
  const stats = new Map<Lane, Promise<PromiseSettledResult<RemoteStat>>>()
  opened.forEach((lane, i) => {
    const stat = requests[i].stat
    if (lane && stat) stats.set(lane, stat)
  })
  const kept = await sameFileOnly(lanes, own, stats)
  if (kept.length < channels.length) {
    core.debug(
      `${forLog(path)}: ${channels.length - kept.length} of ${channels.length} lanes on other ` +
        `connections do not see the same file (another backend?); using ${kept.length}.`
    )
  }
  return kept
}

function settle<T>(request: Promise<T>): Promise<PromiseSettledResult<T>> {
  return request.then(
    value => ({ status: 'fulfilled', value }),
    (reason: unknown) => ({ status: 'rejected', reason })
  )
}

/**
 * The lanes that provably see the first lane's file. A name behind a jump host is resolved by
 * the bastion for each connection, so a round-robin name or a load balancer can send extra
 * connections to other backends: their lanes are kept only if the file there has the same size
 * and mtime. `own` is the first lane's stat, `stats` those of the lanes on other connections,
 * each taken on the lane's own channel right behind its open.
 */
async function sameFileOnly(
  lanes: Lane[],
  own: Promise<PromiseSettledResult<RemoteStat>> | undefined,
  stats: Map<Lane, Promise<PromiseSettledResult<RemoteStat>>>
): Promise<Lane[]> {
  if (!own) return lanes
  const others = [...stats.keys()]
  const [mine, ...theirs] = await Promise.all([own, ...stats.values()])
  if (mine.status === 'rejected') {
    await closeLanes(lanes).catch(() => undefined)
    throw mine.reason
  }
  const differ = new Set(
    others.filter((_, i) => {
      const t = theirs[i]
      return (
        t.status === 'rejected' ||
        t.value.size !== mine.value.size ||
        t.value.mtime !== mine.value.mtime
      )
    })
  )
  // Not awaited: nothing is read or written through these, and the file need not wait.
  closeLanes([...differ]).catch(() => undefined)
  return lanes.filter(l => !differ.has(l))
}

async function closeLanes(lanes: Lane[]): Promise<void> {
  if (lanes.length === 1) {
    const [lane] = lanes
    if (lane.closed) return
    lane.closed = true
    return lane.channel.close(lane.handle)
  }
  const open = lanes.filter(l => !l.closed)
  for (const lane of open) lane.closed = true
  const results = await Promise.allSettled(open.map(l => l.channel.close(l.handle)))
  const failed = results.find(r => r.status === 'rejected')
  if (failed?.status === 'rejected') throw failed.reason
}

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
abstract class RemoteFile {
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
  static async open(channels: SftpChannel[], path: string, resume: boolean) {
    const lanes = await openLanes(channels, path, resume ? 'r+' : 'w', 'r+')
    return new RemoteFileWriter(lanes, path, c => c.maxWriteLen, FORWARDED_BYTES_IN_FLIGHT)
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
  async finish(
    attrs?: FileAttributes,
    whole?: { size: number; clock: boolean }
  ): Promise<RemoteStat & { attrsError?: Error; writtenAt?: number }> {
    const [{ channel, handle }] = this.lanesOpen
    const setAttrs = () =>
      attrs
        ? channel.fsetstat(handle, attrs).then(
            () => undefined,
            (err: Error) => err
          )
        : Promise.resolve(undefined)
    if (!this.inOrder) {
      // Each waits for the one before; the stat afterwards shows the times that stuck.
      const clock = attrs ? await channel.fstat(handle) : undefined
      const attrsError = await setAttrs()
      const info = await channel.fstat(handle)
      await this.close()
      return landed(info, attrsError, clock)
    }
    const { mtime, atime } = attrs ?? {}
    if (whole && !whole.clock && mtime !== undefined && atime !== undefined) {
      return this.finishWhole(whole.size, { mtime, atime, mode: attrs?.mode }, setAttrs)
    }
    // The stat, the attributes and the close go out together, behind any write still in flight
    // on the same channel, which the server answers first: for a one-chunk file, write, check,
    // attributes and close cost a single round trip. The stat comes before the attributes, so
    // one request reads both the size and the server's clock: every request per file is work
    // for the server's sftp process, thousands of times over. OpenSSH sets the times it
    // acknowledges exactly (whole seconds, as sent), so what the file holds afterwards is known.
    const [info, attrsError] = await Promise.all([channel.fstat(handle), setAttrs(), this.close()])
    return landed(attrsError ? info : withAttributes(info, attrs), attrsError, info)
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
    attrs: { mtime: number; atime: number; mode: number | undefined },
    setAttrs: () => Promise<Error | undefined>
  ): Promise<RemoteStat & { attrsError?: Error; writtenAt?: number }> {
    const [attrsError] = await Promise.all([setAttrs(), this.close()])
    if (!attrsError) {
      const mode = attrs.mode === undefined ? 0 : 0o100000 | attrs.mode
      return { ...REGULAR_FILE, size, mtime: attrs.mtime, atime: attrs.atime, mode }
    }
    const info = await this.lanesOpen[0].channel.stat(this.path)
    return { ...info, attrsError, writtenAt: info.mtime }
  }

  /** Whether requests on this file may be pipelined behind each other (see processesInOrder). */
  get inOrder(): boolean {
    return this.lanesOpen.every(l => l.channel.processesInOrder)
  }
}

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

const REGULAR_FILE = { isDirectory: false, isFile: true, isSymbolicLink: false }

function landed(
  info: RemoteStat,
  attrsError: Error | undefined,
  clock: RemoteStat | undefined
): RemoteStat & { attrsError?: Error; writtenAt: number } {
  const writtenAt = (clock ?? info).mtime
  return attrsError ? { ...info, attrsError, writtenAt } : { ...info, writtenAt }
}

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
export async function readWholeRemote(
  channel: SftpChannel,
  path: string,
  size: number,
  into?: Buffer
): Promise<Buffer> {
  const handle = await channel.open(path, 'r')
  const oneRead = channel.processesInOrder && size < channel.maxReadLen
  const room =
    into && into.length > size ? into.subarray(0, size + 1) : Buffer.allocUnsafe(size + 1)
  const buffer = room.subarray(0, size)
  const asked = oneRead ? size + 1 : size
  const first = asked > 0 ? channel.read(handle, room, asked, 0) : Promise.resolve(0)
  const end = oneRead ? first : channel.read(handle, Buffer.allocUnsafe(1), 1, size)
  const closed = channel.processesInOrder
    ? channel.close(handle)
    : Promise.allSettled([first, end]).then(() => channel.close(handle))
  const [got, extra, close] = await Promise.allSettled([first, end, closed])
  if (got.status === 'rejected') throw got.reason
  if (extra.status === 'rejected') throw extra.reason
  if (close.status === 'rejected') throw close.reason
  if (oneRead ? got.value > size : extra.value !== 0) {
    throw new TransferError(
      `${path} is longer than the ${size} bytes the server reported; it was not kept.`
    )
  }
  if (got.value < size) {
    const reader = await RemoteFileReader.open([channel], path)
    try {
      const rest = await reader.read(got.value, size - got.value)
      rest.copy(buffer, got.value)
      // A short answer says nothing of the end: ask for it (the in-order read above stood for it).
      if (oneRead) await reader.expectEnd(size)
    } finally {
      await reader.close().catch(() => undefined)
    }
  }
  return buffer
}
