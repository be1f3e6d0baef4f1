import { Socket } from 'node:net'
import { Writable } from 'node:stream'
import type ssh2 from 'ssh2'

/**
 * ssh2 writes every SSH packet (32 KiB at most for OpenSSH's channels) with its own socket
 * write: one system call each. Corking the socket for the rest of the current tick lets Node
 * hand all packets produced in that tick to the kernel in one writev.
 */
export function coalesceWrites(client: ssh2.Client): void {
  const sock: unknown = Reflect.get(client, '_sock')
  if (!(sock instanceof Writable)) return
  if (!(sock instanceof Socket)) return joinWrites(sock)
  const write = sock.write.bind(sock) as (...args: unknown[]) => boolean
  let corked = false
  Reflect.set(sock, 'write', (...args: unknown[]) => {
    if (!corked) {
      corked = true
      sock.cork()
      process.nextTick(() => {
        corked = false
        sock.uncork()
      })
    }
    return write(...args)
  })
}

/**
 * Behind a jump host the socket is a channel of the bastion's connection, which cuts what it is
 * given into packets of its own (32 KiB on OpenSSH): each 32 KiB packet of the inner connection
 * (a little more with its framing) would become two, one of them tiny, each encrypted and sent
 * on its own. Joining what one tick writes lets the channel send full packets. What a tick joins
 * (often megabytes) goes into a buffer that serves again once the channel has taken its bytes:
 * a fresh one each tick cost new pages from the kernel and garbage for the collector.
 */
function joinWrites(sock: Writable): void {
  const write = sock.write.bind(sock) as (...args: unknown[]) => boolean
  const end = sock.end.bind(sock) as (...args: unknown[]) => Writable
  const spare: Buffer[] = []
  let pending: Buffer[] = []
  let bytes = 0
  const flush = (): void => {
    if (pending.length === 0) return
    const parts = pending
    const size = bytes
    pending = []
    bytes = 0
    if (parts.length === 1) {
      write(parts[0])
      return
    }
    const joined = takeJoinBuffer(spare, size)
    let at = 0
    for (const part of parts) at += part.copy(joined, at)
    // The channel calls back once it holds none of these bytes any more (sent, or given up).
    write(joined.subarray(0, size), () => {
      if (spare.length < JOIN_BUFFERS_KEPT) spare.push(joined)
    })
  }
  Reflect.set(sock, 'write', (...args: unknown[]) => {
    const [chunk] = args
    if (args.length > 1 || !Buffer.isBuffer(chunk)) {
      flush()
      return write(...args)
    }
    if (pending.length === 0) process.nextTick(flush)
    pending.push(chunk)
    bytes += chunk.length
    return true
  })
  Reflect.set(sock, 'end', (...args: unknown[]) => {
    flush()
    return end(...args)
  })
}

/** Join buffers kept for reuse per connection: a few ticks' writes wait for window at most. */
const JOIN_BUFFERS_KEPT = 4

/** A spare join buffer of at least `size` bytes, or a new one (never below 256 KiB). */
function takeJoinBuffer(spare: Buffer[], size: number): Buffer {
  const i = spare.findIndex(b => b.length >= size)
  if (i >= 0) return spare.splice(i, 1)[0]
  if (spare.length > 0) spare.shift()
  return Buffer.allocUnsafeSlow(Math.max(size, 256 * 1024))
}

/** What ssh2's SFTP object asks of the connection's protocol (all it uses, in ssh2 1.17). */
interface ChannelSink {
  channelData(channel: number, data: Buffer): void
  channelClose(channel: number): void
}

/**
 * Requests at least this big go out on their own, at once and without a copy: a big file's
 * 32 KiB slices fill packets already.
 */
const JOIN_BELOW = 16 * 1024

/**
 * ssh2 sends every SFTP request in a CHANNEL_DATA packet of its own, each encrypted (a fresh
 * AES-GCM context per packet), framed and written separately, and decrypted by the server. A
 * small file costs five to seven requests (open, write, fstat, close, rename, and times), so
 * thousands of files in flight meant tens of thousands of tiny packets. Small requests one tick
 * issues on one channel go out together, in packets of up to the channel's packet size: the same
 * bytes in the same order, a fraction of the packets. ssh2 already charged the flow-control
 * window for each request, so joining them changes nothing there. Each request is copied as it
 * comes (ssh2 may reuse its buffer once the call returns, see scripts/ssh2-patches.mjs).
 */
export function joinChannelData(sftp: ssh2.SFTPWrapper): void {
  const protocol: unknown = Reflect.get(sftp, '_protocol')
  const outgoing: unknown = Reflect.get(sftp, 'outgoing')
  const packetSize: unknown = outgoing && Reflect.get(outgoing, 'packetSize')
  if (!isSink(protocol) || typeof packetSize !== 'number' || !(packetSize > JOIN_BELOW)) return
  let joined: Buffer | undefined
  let bytes = 0
  let channel = 0
  let scheduled = false
  const flush = (): void => {
    if (bytes === 0 || !joined) return
    const data = joined.subarray(0, bytes)
    bytes = 0
    protocol.channelData(channel, data)
  }
  const flushLater = (): void => {
    scheduled = false
    flush()
  }
  const sink: ChannelSink = {
    channelData(id, data) {
      const alone = data.length >= JOIN_BELOW
      if (bytes > 0 && (alone || id !== channel || bytes + data.length > packetSize)) flush()
      if (alone) return protocol.channelData(id, data)
      joined ??= Buffer.allocUnsafe(packetSize)
      channel = id
      data.copy(joined, bytes)
      bytes += data.length
      if (!scheduled) {
        scheduled = true
        process.nextTick(flushLater)
      }
    },
    channelClose(id) {
      flush()
      protocol.channelClose(id)
    }
  }
  Reflect.set(sftp, '_protocol', sink)
}

function isSink(value: unknown): value is ChannelSink {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof Reflect.get(value, 'channelData') === 'function' &&
    typeof Reflect.get(value, 'channelClose') === 'function'
  )
}
