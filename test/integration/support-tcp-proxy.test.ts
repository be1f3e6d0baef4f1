import { createHash, randomBytes } from 'node:crypto'
import net from 'node:net'
import { performance } from 'node:perf_hooks'
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js'
import { waitFor } from '../support/run.js'

/** An echo server on 127.0.0.1 that counts what it received. */
interface Echo {
  port: number
  connections: number
  received: number
  sockets: Set<net.Socket>
  close(): Promise<void>
}

async function startEcho(): Promise<Echo> {
  const sockets = new Set<net.Socket>()
  const echo: Echo = {
    port: 0,
    connections: 0,
    received: 0,
    sockets,
    close: () =>
      new Promise(resolve => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      })
  }
  const server = net.createServer(socket => {
    echo.connections++
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => undefined)
    socket.on('data', (chunk: Buffer) => (echo.received += chunk.length))
    socket.pipe(socket)
  })
  await new Promise<void>(resolve => server.listen({ host: '127.0.0.1', port: 0 }, resolve))
  echo.port = (server.address() as net.AddressInfo).port
  return echo
}

/** A connected client that collects what it receives. */
interface Client {
  socket: net.Socket
  received(): Buffer
  closed(): boolean
  ended(): boolean
}

function connect(port: number): Promise<Client> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let closed = false
    let ended = false
    const socket = net.connect({ host: '127.0.0.1', port }, () =>
      resolve({
        socket,
        received: () => Buffer.concat(chunks),
        closed: () => closed,
        ended: () => ended
      })
    )
    socket.setNoDelay(true)
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('end', () => (ended = true))
    socket.on('close', () => (closed = true))
    socket.on('error', error => (closed ? undefined : reject(error)))
  })
}

/** Sends one byte and waits for its echo; resolves with the round-trip time in ms. */
function pingPong(client: Client): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const onData = (): void => {
      client.socket.off('close', onClose)
      resolve(performance.now() - started)
    }
    const onClose = (): void => reject(new Error('closed during ping'))
    client.socket.once('data', onData)
    client.socket.once('close', onClose)
    client.socket.write('x')
  })
}

async function medianRtt(port: number, rounds = 5): Promise<number> {
  const client = await connect(port)
  try {
    await pingPong(client) // warm-up: includes opening the upstream connection
    const samples: number[] = []
    for (let i = 0; i < rounds; i++) samples.push(await pingPong(client))
    samples.sort((a, b) => a - b)
    return samples[Math.floor(samples.length / 2)]
  } finally {
    client.socket.destroy()
  }
}

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

describe('tcp-proxy (test/support/tcp-proxy.ts) against a local echo server', () => {
  let echo: Echo
  const proxies: TcpProxy[] = []

  const proxy = async (
    options: Omit<Parameters<typeof startTcpProxy>[0], 'targetPort'> = {}
  ): Promise<TcpProxy> => {
    const started = await startTcpProxy({ targetPort: echo.port, ...options })
    proxies.push(started)
    return started
  }

  beforeEach(async () => {
    echo = await startEcho()
  })

  afterEach(async () => {
    await Promise.all(proxies.splice(0).map(p => p.close()))
    await echo.close()
  })

  test('listens on 127.0.0.1 and forwards both ways, half-close included', async () => {
    const p = await proxy()
    expect(p.host).toBe('127.0.0.1')
    expect(p.port).toBeGreaterThan(0)
    const client = await connect(p.port)
    client.socket.end('hello')
    await waitFor(() => client.closed(), 'the echoed hello and the close')
    expect(client.received().toString()).toBe('hello')
    expect(client.ended()).toBe(true)
    await waitFor(() => p.counters().active === 0, 'the connection to be gone')
    expect(p.counters()).toMatchObject({
      connections: 1,
      bytesClientToServer: 5,
      bytesServerToClient: 5
    })
  })

  test('latency adds about 2 × latencyMs to the round trip, and can change at runtime', async () => {
    const direct = await medianRtt(echo.port)
    const p = await proxy({ latencyMs: 40 })
    const slow = await medianRtt(p.port)
    expect(slow).toBeGreaterThanOrEqual(80 - 1)
    expect(slow).toBeLessThan(80 + direct + 40)
    p.latencyMs = 10
    const faster = await medianRtt(p.port)
    expect(faster).toBeGreaterThanOrEqual(20 - 1)
    expect(faster).toBeLessThan(20 + direct + 40)
  })

  test('32 MiB echoed through a 25 ms proxy keeps loopback speed (not one chunk per latency)', async () => {
    const p = await proxy({ latencyMs: 25 })
    const total = 32 * 1024 * 1024
    const block = randomBytes(1024 * 1024)
    const sent = createHash('sha256')
    const got = createHash('sha256')
    const client = await connect(p.port)
    let receivedBytes = 0
    let chunks = 0
    const done = new Promise<void>(resolve => {
      client.socket.on('data', (chunk: Buffer) => {
        got.update(chunk)
        chunks++
        receivedBytes += chunk.length
        if (receivedBytes >= total) resolve()
      })
    })
    const started = performance.now()
    for (let i = 0; i < total / block.length; i++) {
      const chunk = Buffer.from(block)
      chunk.writeUInt32BE(i, 0) // every MiB differs, so reordering would show in the hash
      sent.update(chunk)
      if (!client.socket.write(chunk)) {
        await new Promise(resolve => client.socket.once('drain', resolve))
      }
    }
    await done
    const seconds = (performance.now() - started) / 1000
    client.socket.destroy()
    expect(receivedBytes).toBe(total)
    expect(got.digest('hex')).toBe(sent.digest('hex'))
    expect(p.counters()).toMatchObject({
      bytesClientToServer: total,
      bytesServerToClient: total
    })
    // Chunks forwarded one per latency would take at least chunks × 25 ms; pipelined, the whole
    // stream takes one latency plus the copying, whatever the machine's load.
    expect(seconds).toBeLessThan((chunks * 0.025) / 2)
  })

  test('cutAfterBytes passes exactly N bytes, destroys both sockets, then only the next connection', async () => {
    const p = await proxy()
    p.setFaults({ cutAfterBytes: 1000, cutDirection: 'client-to-server' })
    const client = await connect(p.port)
    client.socket.write(randomBytes(5000))
    await waitFor(() => client.closed(), 'the cut')
    await waitFor(() => echo.sockets.size === 0, 'the server side to be closed')
    expect(echo.received).toBe(1000)
    expect(p.counters()).toMatchObject({ cut: 1, bytesClientToServer: 1000 })

    // cutConnections defaults to 1: the next connection is untouched.
    const next = await connect(p.port)
    next.socket.write(Buffer.alloc(5000, 1))
    await waitFor(() => next.received().length === 5000, 'the full echo')
    next.socket.destroy()
    expect(p.counters().cut).toBe(1)
  })

  test('cutDirection server-to-client and cutConnections: 2 cut the next two connections', async () => {
    const p = await proxy({ latencyMs: 5 })
    p.setFaults({ cutAfterBytes: 3000, cutDirection: 'server-to-client', cutConnections: 2 })
    for (let i = 0; i < 2; i++) {
      const client = await connect(p.port)
      client.socket.write(randomBytes(5000))
      await waitFor(() => client.closed(), `cut #${i + 1}`)
      expect(client.received().length).toBe(3000)
    }
    expect(echo.received).toBe(10000)
    const third = await connect(p.port)
    third.socket.write(randomBytes(5000))
    await waitFor(() => third.received().length === 5000, 'the full echo')
    expect(third.closed()).toBe(false)
    third.socket.destroy()
    expect(p.counters()).toMatchObject({ connections: 3, cut: 2 })
  })

  test('stallAfterBytes stops forwarding silently and keeps both sockets open', async () => {
    const p = await proxy()
    p.setFaults({ stallAfterBytes: 1000, stallDirection: 'client-to-server' })
    const client = await connect(p.port)
    client.socket.write(randomBytes(5000))
    await waitFor(() => echo.received === 1000, 'the first 1000 bytes')
    await sleep(300)
    expect(echo.received).toBe(1000)
    expect(client.received().length).toBe(0) // the echo of those 1000 bytes is stalled too
    expect(client.closed()).toBe(false)
    expect(echo.sockets.size).toBe(1)
    client.socket.write('more') // still writable: nothing tells the client the link is dead
    await sleep(100)
    expect(client.closed()).toBe(false)
    expect(p.counters()).toMatchObject({ stalled: 1, active: 1, bytesClientToServer: 1000 })

    // Only the next connection stalls; the one after it is served.
    const next = await connect(p.port)
    next.socket.write('ping')
    await waitFor(() => next.received().toString() === 'ping', 'the echo')
    next.socket.destroy()

    await p.close()
    await waitFor(() => client.closed(), 'close() to close the stalled connection')
  })

  test('refuse closes new connections at once; a count refuses only that many', async () => {
    const p = await proxy()
    p.setFaults({ refuse: true })
    for (let i = 0; i < 2; i++) {
      const client = await connect(p.port)
      await waitFor(() => client.closed(), 'the refusal')
      expect(client.received().length).toBe(0)
    }
    expect(echo.connections).toBe(0)

    p.setFaults({ refuse: 1 })
    const refused = await connect(p.port)
    await waitFor(() => refused.closed(), 'the refusal')
    const served = await connect(p.port)
    served.socket.write('ok')
    await waitFor(() => served.received().toString() === 'ok', 'the echo')
    served.socket.destroy()
    expect(echo.connections).toBe(1)
    expect(p.counters()).toMatchObject({ connections: 4, refused: 3 })
  })

  test('faults armed at runtime leave open connections alone; cutActive/stallActive hit them', async () => {
    const p = await proxy()
    const open = await connect(p.port)
    p.setFaults({ cutAfterBytes: 10 })
    open.socket.write(Buffer.alloc(100, 7))
    await waitFor(() => open.received().length === 100, 'the echo on the older connection')
    expect(p.cutActive()).toBe(1)
    await waitFor(() => open.closed(), 'the cut')

    p.clearFaults()
    const other = await connect(p.port)
    other.socket.write('a')
    await waitFor(() => other.received().length === 1, 'the echo')
    expect(p.stallActive()).toBe(1)
    other.socket.write('b')
    await sleep(100)
    expect(other.received().toString()).toBe('a')
    expect(other.closed()).toBe(false)
    other.socket.destroy()
    expect(p.counters()).toMatchObject({ cut: 1, stalled: 1 })
  })
})
