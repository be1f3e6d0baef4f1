import { Socket } from 'node:net'
import { Writable } from 'node:stream'
import type ssh2 from 'ssh2'
import type { VerifiedConnection } from './options.js'

/**
 * Whether the server still answers on this connection: one keepalive request and its reply,
 * sent the way ssh2's own keepalive sends it. Tells a server that chose not to answer something
 * (it is there) from a link that went dead.
 */
export function stillAnswers(client: ssh2.Client, timeoutMs: number): Promise<boolean> {
  return new Promise(resolve => {
    const callbacks: unknown = Reflect.get(client, '_callbacks')
    const protocol: unknown = Reflect.get(client, '_protocol')
    const ping: unknown = protocol && Reflect.get(protocol as object, 'ping')
    const sock: unknown = Reflect.get(client, '_sock')
    if (!Array.isArray(callbacks) || typeof ping !== 'function') return resolve(true)
    if (!(sock instanceof Writable) || !sock.writable) return resolve(false)
    let settled = false
    const done = (answered: boolean): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      client.off('close', onClose)
      resolve(answered)
    }
    const onClose = (): void => done(false)
    const timer = setTimeout(() => done(false), timeoutMs)
    timer.unref()
    client.once('close', onClose)
    // A reply, success or failure, proves the server is there; ssh2 hands an Error to callbacks
    // still waiting when the connection closes.
    callbacks.push((failed: unknown) => done(!(failed instanceof Error)))
    try {
      ;(ping as () => void).call(protocol)
    } catch {
      done(false)
    }
  })
}

/**
 * Ends a connection and the bastion it runs through. Whatever the action waited for has been
 * answered when it ends a connection, so the server's own close is a round trip the process need
 * not wait for before it exits: once the goodbye and our half-close are with the kernel, the
 * socket is let go.
 */
export function endConnection(connection: VerifiedConnection): void {
  connection.client.end()
  connection.jump?.client.end()
  for (const hop of [connection, connection.jump]) if (hop) releaseOnceSent(hop.client)
}

/** A TCP socket only: behind a bastion, the inner connection's socket is one of its channels. */
function releaseOnceSent(client: ssh2.Client): void {
  const sock: unknown = Reflect.get(client, '_sock')
  if (!(sock instanceof Socket) || sock.destroyed) return
  if (sock.writableFinished) sock.destroy()
  else sock.once('finish', () => sock.destroy())
}
