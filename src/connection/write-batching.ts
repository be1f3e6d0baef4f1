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
 * on its own. Joining what one tick writes lets the channel send full packets.
 */
function joinWrites(sock: Writable): void {
  const write = sock.write.bind(sock) as (...args: unknown[]) => boolean
  const end = sock.end.bind(sock) as (...args: unknown[]) => Writable
  let pending: Buffer[] = []
  const flush = (): void => {
    if (pending.length === 0) return
    const data = pending.length === 1 ? pending[0] : Buffer.concat(pending)
    pending = []
    write(data)
  }
  Reflect.set(sock, 'write', (...args: unknown[]) => {
    const [chunk] = args
    if (args.length > 1 || !Buffer.isBuffer(chunk)) {
      flush()
      return write(...args)
    }
    if (pending.length === 0) process.nextTick(flush)
    pending.push(chunk)
    return true
  })
  Reflect.set(sock, 'end', (...args: unknown[]) => {
    flush()
    return end(...args)
  })
}
