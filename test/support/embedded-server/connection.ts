import type net from 'node:net'
import type ssh2 from 'ssh2'
import type { Faults } from './types.js'

export type FaultKind = 'drop' | 'stall'

export interface ServerState {
  root: string
  username: string
  password?: string
  authorizedKey?: ssh2.ParsedKey
  /** We claim to be OpenSSH (ident), so clients send SYMLINK in OpenSSH's order. */
  claimsOpenSSH: boolean
  faults: () => Faults
  onFault: (kind: FaultKind) => void
}

export class ConnectionState {
  /** File-data bytes moved so far (reads and writes). */
  bytes = 0
  /** A drop or stall fired: no SFTP request on this connection is answered any more. */
  halted = false
  sessions = 0
  readonly closers = new Set<() => Promise<void>>()

  constructor(
    readonly socket: net.Socket,
    private readonly server: ServerState
  ) {}

  /**
   * Account for n data bytes. Returns how many may go through; `fault` is set (and the connection
   * halted) when the request crosses a drop/stall limit.
   */
  take(n: number): { allowed: number; fault?: FaultKind } {
    const faults = this.server.faults()
    let limit = Infinity
    let kind: FaultKind | undefined
    if (faults.dropAfterBytes !== undefined) {
      limit = faults.dropAfterBytes
      kind = 'drop'
    }
    if (faults.stallAfterBytes !== undefined && faults.stallAfterBytes < limit) {
      limit = faults.stallAfterBytes
      kind = 'stall'
    }
    const remaining = Math.max(0, limit - this.bytes)
    if (kind === undefined || n <= remaining) {
      this.bytes += n
      return { allowed: n }
    }
    this.bytes += remaining
    this.halted = true
    return { allowed: remaining, fault: kind }
  }

  fire(kind: FaultKind): void {
    this.server.onFault(kind)
    if (kind === 'drop') this.socket.destroy()
  }
}
