/**
 * A small TCP proxy on 127.0.0.1 for tests and benchmarks: latency and network faults in front of
 * a local server (usually the sshd from sshd.ts).
 *
 * - Latency: every chunk is forwarded `latencyMs` after it arrived, in order, per direction, so a
 *   round trip costs about 2 × latencyMs. Chunks are not serialized behind each other: many are in
 *   flight at once (a FIFO of timestamped chunks per direction), and nothing is throttled (no
 *   bandwidth cap, no backpressure from the proxy; the endpoints' own flow control bounds what is
 *   in flight). Opening the upstream connection also costs latencyMs, as a SYN would.
 * - Faults, armed with setFaults() at any time, apply to connections accepted after that:
 *   `refuse` closes new connections at once; `cutAfterBytes` destroys both sockets once N bytes
 *   have passed; `stallAfterBytes` silently stops forwarding in both directions once N bytes have
 *   passed, leaving both sockets open (a black hole). cutActive()/stallActive() act on the
 *   connections that are already open.
 * - Counters: connections, bytes forwarded each way, refused/cut/stalled connections.
 *
 * It listens on 127.0.0.1 only and connects to 127.0.0.1 only.
 */
import net from 'node:net'
import { performance } from 'node:perf_hooks'

const HOST = '127.0.0.1'

/** Which bytes count towards a fault's threshold. 'both' counts the two directions together. */
export type FaultDirection = 'client-to-server' | 'server-to-client' | 'both'

export interface ProxyFaults {
  /**
   * Close new connections right after accepting them, before anything reaches the target.
   * true: every new connection until the faults change; a number: the next N connections.
   */
  refuse?: boolean | number
  /**
   * Destroy both sockets once this many bytes have passed (counted per `cutDirection`). Exactly
   * N bytes get through; the chunk that crosses the threshold is split. 0 cuts right after the
   * upstream connection opens.
   */
  cutAfterBytes?: number
  /** How many of the next connections get cut. Default 1. */
  cutConnections?: number
  /** Default 'both'. */
  cutDirection?: FaultDirection
  /**
   * Stop forwarding, in both directions and without closing anything, once this many bytes have
   * passed (counted per `stallDirection`). Exactly N bytes get through. The sockets stop being
   * read, so the peers' send buffers fill up as on a dead link; closes are not passed on either.
   */
  stallAfterBytes?: number
  /** How many of the next connections stall. Default 1. */
  stallConnections?: number
  /** Default 'both'. */
  stallDirection?: FaultDirection
}

export interface TcpProxyOptions {
  /** Port of the server on 127.0.0.1 to forward to. */
  targetPort: number
  /** One-way delay per direction in milliseconds (RTT ≈ 2 × latencyMs). Default 0. */
  latencyMs?: number
  /** Faults armed from the start. */
  faults?: ProxyFaults
}

export interface ProxyCounters {
  /** Connections accepted, refused ones included. */
  connections: number
  /** Connections currently open (either socket still open). */
  active: number
  /** Connections closed at once because of `refuse`. */
  refused: number
  /** Connections destroyed by `cutAfterBytes` or cutActive(). */
  cut: number
  /** Connections stalled by `stallAfterBytes` or stallActive(). */
  stalled: number
  /** Bytes forwarded from clients to the target. */
  bytesClientToServer: number
  /** Bytes forwarded from the target to clients. */
  bytesServerToClient: number
}

export interface TcpProxy {
  readonly host: '127.0.0.1'
  /** The port clients connect to. */
  readonly port: number
  readonly targetPort: number
  /** One-way delay; may be changed at any time (applies to chunks arriving after the change). */
  latencyMs: number
  /** Replaces the armed faults (fields left out are off). Connections already open keep theirs. */
  setFaults(faults: ProxyFaults): void
  /** Disarms every fault; connections already open keep theirs. */
  clearFaults(): void
  /** A snapshot of the counters. */
  counters(): ProxyCounters
  /** Destroys every open connection now; returns how many. */
  cutActive(): number
  /** Stalls every open connection now; returns how many were not stalled yet. */
  stallActive(): number
  /** Closes the listener and destroys every connection. Safe to call twice. */
  close(): Promise<void>
}

interface Rule {
  kind: 'cut' | 'stall'
  afterBytes: number
  direction: FaultDirection
}

interface Armed {
  refuse: number
  cut?: { afterBytes: number; direction: FaultDirection; remaining: number }
  stall?: { afterBytes: number; direction: FaultDirection; remaining: number }
}

type Item =
  { due: number; chunk: Buffer } | { due: number; end: true } | { due: number; kill: true }

function checkBytes(name: string, value: number | undefined): void {
  if (value !== undefined && !(Number.isInteger(value) && value >= 0)) {
    throw new Error(`tcp-proxy: ${name} must be a non-negative integer, got ${value}`)
  }
}

function checkCount(name: string, value: number | undefined): number {
  const count = value ?? 1
  if (!(count === Infinity || (Number.isInteger(count) && count >= 0))) {
    throw new Error(`tcp-proxy: ${name} must be a non-negative integer or Infinity, got ${value}`)
  }
  return count
}

function arm(faults: ProxyFaults): Armed {
  checkBytes('cutAfterBytes', faults.cutAfterBytes)
  checkBytes('stallAfterBytes', faults.stallAfterBytes)
  const refuse =
    faults.refuse === true
      ? Infinity
      : faults.refuse === false || faults.refuse === undefined
        ? 0
        : checkCount('refuse', faults.refuse)
  const armed: Armed = { refuse }
  if (faults.cutAfterBytes !== undefined) {
    armed.cut = {
      afterBytes: faults.cutAfterBytes,
      direction: faults.cutDirection ?? 'both',
      remaining: checkCount('cutConnections', faults.cutConnections)
    }
  }
  if (faults.stallAfterBytes !== undefined) {
    armed.stall = {
      afterBytes: faults.stallAfterBytes,
      direction: faults.stallDirection ?? 'both',
      remaining: checkCount('stallConnections', faults.stallConnections)
    }
  }
  return armed
}

/** Start a proxy on 127.0.0.1, port 0 (the OS picks one), in front of 127.0.0.1:targetPort. */
export async function startTcpProxy(options: TcpProxyOptions): Promise<TcpProxy> {
  const { targetPort } = options
  if (!Number.isInteger(targetPort) || targetPort < 1 || targetPort > 65535) {
    throw new Error(`tcp-proxy: bad targetPort ${targetPort}`)
  }
  let latencyMs = checkLatency(options.latencyMs ?? 0)
  let armed = arm(options.faults ?? {})
  const counters: ProxyCounters = {
    connections: 0,
    active: 0,
    refused: 0,
    cut: 0,
    stalled: 0,
    bytesClientToServer: 0,
    bytesServerToClient: 0
  }
  const live = new Set<Connection>()
  let closing: Promise<void> | undefined

  class Lane {
    private queue: Item[] = []
    private head = 0
    private timer: NodeJS.Timeout | undefined

    constructor(
      private readonly conn: Connection,
      private readonly to: () => net.Socket | undefined,
      readonly upstream: boolean
    ) {}

    push(item: Item): void {
      if (this.conn.done || this.conn.stalled) return
      this.queue.push(item)
      // With no latency (or a backlog already due) forward now rather than a timer tick later.
      if (item.due <= performance.now() && this.timer === undefined) this.flush()
      else this.schedule()
    }

    schedule(): void {
      if (this.timer !== undefined || this.head >= this.queue.length) return
      if (!this.to()) return // upstream not open yet: openUpstream() flushes
      const wait = Math.max(0, this.queue[this.head].due - performance.now())
      this.timer = setTimeout(() => {
        this.timer = undefined
        this.flush()
      }, wait)
    }

    flush(): void {
      const now = performance.now()
      while (this.head < this.queue.length && !this.conn.done && !this.conn.stalled) {
        const item = this.queue[this.head]
        // Timers can fire a fraction of a millisecond early: allow half a millisecond.
        if (item.due > now + 0.5) break
        const to = this.to()
        if (!to) break
        this.head++
        if ('chunk' in item) this.conn.deliver(item.chunk, to, this.upstream)
        else if ('end' in item) to.end()
        else to.destroy()
      }
      if (this.head >= this.queue.length || this.conn.done || this.conn.stalled) {
        this.drop()
      } else {
        if (this.head > 1024) {
          this.queue = this.queue.slice(this.head)
          this.head = 0
        }
        this.schedule()
      }
    }

    drop(): void {
      clearTimeout(this.timer)
      this.timer = undefined
      this.queue = []
      this.head = 0
    }
  }

  class Connection {
    done = false
    stalled = false
    server: net.Socket | undefined
    private connectTimer: NodeJS.Timeout | undefined
    private passedUp = 0
    private passedDown = 0
    private readonly rules: Rule[]
    private readonly up: Lane
    private readonly down: Lane
    private openSockets = 1

    constructor(
      readonly client: net.Socket,
      rules: Rule[]
    ) {
      this.rules = rules
      this.up = new Lane(this, () => this.server, true)
      this.down = new Lane(this, () => this.client, false)
      live.add(this)
      counters.active++
      client.setNoDelay(true)
      this.wire(client, this.up)
      this.connectTimer = setTimeout(() => this.openUpstream(), latencyMs)
    }

    private openUpstream(): void {
      this.connectTimer = undefined
      if (this.done) return
      const server = net.connect({ host: HOST, port: targetPort, allowHalfOpen: true })
      this.server = server
      this.openSockets++
      server.setNoDelay(true)
      this.wire(server, this.down)
      if (this.stalled) server.pause()
      for (const rule of this.rules) {
        if (rule.afterBytes === 0) this.trigger(rule)
      }
      this.up.flush()
    }

    private wire(socket: net.Socket, lane: Lane): void {
      let ended = false
      socket.on('data', (chunk: Buffer) => {
        lane.push({ due: performance.now() + latencyMs, chunk })
      })
      socket.on('end', () => {
        ended = true
        lane.push({ due: performance.now() + latencyMs, end: true })
      })
      socket.on('error', () => undefined)
      socket.on('close', () => {
        if (!ended) lane.push({ due: performance.now() + latencyMs, kill: true })
        if (--this.openSockets === 0) this.finish()
      })
    }

    /** Forwards a chunk, or the part of it that fits before a fault's threshold. */
    deliver(chunk: Buffer, to: net.Socket, upstream: boolean): void {
      let allowed = chunk.length
      let fired: Rule[] = []
      for (const rule of this.rules) {
        if (rule.direction !== 'both' && (rule.direction === 'client-to-server') !== upstream) {
          continue
        }
        const passed =
          rule.direction === 'both'
            ? this.passedUp + this.passedDown
            : upstream
              ? this.passedUp
              : this.passedDown
        const left = Math.max(0, rule.afterBytes - passed)
        if (left > allowed) continue
        if (left < allowed) fired = []
        allowed = left
        fired.push(rule)
      }
      const part = allowed === chunk.length ? chunk : chunk.subarray(0, allowed)
      // A cut wins over a stall at the same byte.
      const rule = fired.find(r => r.kind === 'cut') ?? fired[0]
      if (part.length > 0) {
        if (upstream) {
          this.passedUp += part.length
          counters.bytesClientToServer += part.length
        } else {
          this.passedDown += part.length
          counters.bytesServerToClient += part.length
        }
        if (rule?.kind === 'cut') {
          // destroy() would drop a write still queued (e.g. while connecting): cut once it is out.
          this.stopForwarding()
          to.write(part, () => this.cut())
          return
        }
        to.write(part)
      }
      if (rule) this.trigger(rule)
    }

    trigger(rule: Rule): void {
      if (rule.kind === 'cut') this.cut()
      else this.stall()
    }

    /** Nothing more is forwarded or read; the sockets stay as they are. */
    private stopForwarding(): void {
      this.stalled = true
      this.up.drop()
      this.down.drop()
      this.client.pause()
      this.server?.pause()
    }

    cut(): void {
      if (this.done) return
      counters.cut++
      this.client.destroy()
      this.server?.destroy()
      this.finish()
    }

    stall(): boolean {
      if (this.done || this.stalled) return false
      counters.stalled++
      this.stopForwarding()
      return true
    }

    /** Destroys both sockets; counts nothing. */
    destroy(): void {
      this.client.destroy()
      this.server?.destroy()
      this.finish()
    }

    finish(): void {
      if (this.done) return
      this.done = true
      clearTimeout(this.connectTimer)
      this.up.drop()
      this.down.drop()
      live.delete(this)
      counters.active--
    }
  }

  function rulesForNewConnection(): Rule[] {
    const rules: Rule[] = []
    for (const kind of ['cut', 'stall'] as const) {
      const fault = armed[kind]
      if (!fault || fault.remaining <= 0) continue
      fault.remaining--
      rules.push({ kind, afterBytes: fault.afterBytes, direction: fault.direction })
    }
    return rules
  }

  const server = net.createServer({ allowHalfOpen: true }, client => {
    counters.connections++
    if (closing || armed.refuse > 0) {
      if (!closing) {
        armed.refuse--
        counters.refused++
      }
      client.on('error', () => undefined)
      client.destroy()
      return
    }
    new Connection(client, rulesForNewConnection())
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ host: HOST, port: 0, exclusive: true }, () => {
      server.off('error', reject)
      resolve()
    })
  })
  server.on('error', () => undefined)
  const address = server.address()
  if (typeof address !== 'object' || address === null) {
    server.close()
    throw new Error('tcp-proxy: no address after listen')
  }

  return {
    host: HOST,
    port: address.port,
    targetPort,
    get latencyMs() {
      return latencyMs
    },
    set latencyMs(value: number) {
      latencyMs = checkLatency(value)
    },
    setFaults(faults: ProxyFaults) {
      armed = arm(faults)
    },
    clearFaults() {
      armed = arm({})
    },
    counters: () => ({ ...counters }),
    cutActive() {
      const all = [...live]
      all.forEach(conn => conn.cut())
      return all.length
    },
    stallActive() {
      return [...live].filter(conn => conn.stall()).length
    },
    close() {
      closing ??= new Promise<void>(resolve => {
        server.close(() => resolve())
        for (const conn of [...live]) conn.destroy()
      })
      return closing
    }
  }
}

function checkLatency(value: number): number {
  if (!(Number.isFinite(value) && value >= 0)) {
    throw new Error(`tcp-proxy: latencyMs must be a finite number >= 0, got ${value}`)
  }
  return value
}

/** Runs `use` with a proxy started from `options`, and closes the proxy however `use` ends. */
export async function withTcpProxy<T>(
  options: TcpProxyOptions,
  use: (proxy: TcpProxy) => Promise<T>
): Promise<T> {
  const proxy = await startTcpProxy(options)
  try {
    return await use(proxy)
  } finally {
    await proxy.close()
  }
}
