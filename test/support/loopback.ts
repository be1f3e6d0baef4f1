/**
 * Loopback ports for the test servers (sshd.ts, daemon.ts): a free one to start on, and whether
 * an SSH server answers on one (up, or gone after stop()).
 */
import net from 'node:net'

const HOST = '127.0.0.1'

/** Connects to 127.0.0.1:port and resolves true once the peer has sent an 'SSH-2.0-' banner. */
export function probeBanner(port: number, timeoutMs = 2000): Promise<boolean> {
  return new Promise(resolve => {
    let received = ''
    let settled = false
    const socket = net.connect({ host: HOST, port })
    const finish = (ok: boolean): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      resolve(ok)
    }
    const timer = setTimeout(() => finish(false), timeoutMs)
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => {
      received += chunk
      if (/^SSH-2\.0-/m.test(received)) finish(true)
    })
    socket.on('error', () => finish(false))
    socket.on('close', () => finish(false))
  })
}

export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.once('error', reject)
    server.listen({ port: 0, host: HOST, exclusive: true }, () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))))
    })
  })
}
