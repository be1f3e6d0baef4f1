import type { Duplex } from 'node:stream'
import type ssh2 from 'ssh2'
import { ConnectionError } from '../errors.js'
import { formatHostPort, type Endpoint } from '../inputs/endpoints.js'

/** A channel from the bastion to the server; the bastion must allow TCP forwarding. */
export function forward(jump: ssh2.Client, endpoint: Endpoint, timeoutMs: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const target = formatHostPort(endpoint.host, endpoint.port)
    const timer = setTimeout(() => {
      reject(
        new ConnectionError(
          `Timed out after ${timeoutMs / 1000} s waiting for the jump host to reach ${target}.`,
          false
        )
      )
    }, timeoutMs)
    timer.unref()
    const via = endpoint.jump ? formatHostPort(endpoint.jump.host, endpoint.jump.port) : ''
    const lost = (err: Error) =>
      new ConnectionError(
        `The connection to the jump host ${via} was lost while it reached ${target}.`,
        true,
        { cause: err }
      )
    const opened = (err: Error | undefined, stream: Duplex) => {
      clearTimeout(timer)
      if (!err) return resolve(stream)
      // ssh2 says this to channels still opening when the bastion's own connection closes.
      if (/No response from server/i.test(err.message)) return reject(lost(err))
      reject(
        new ConnectionError(
          `The jump host ${via} could not open a connection to ` +
            `${formatHostPort(endpoint.host, endpoint.port)}: ${err.message}. Check that it allows ` +
            'TCP forwarding (AllowTcpForwarding) and can reach that server.',
          false,
          { cause: err }
        )
      )
    }
    try {
      jump.forwardOut('127.0.0.1', 0, endpoint.host, endpoint.port, opened)
    } catch (err) {
      clearTimeout(timer)
      reject(lost(err as Error))
    }
  })
}
