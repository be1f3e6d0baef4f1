import pLimit from 'p-limit'

/**
 * Commands (exec channels) run at once on one connection. dropbear refuses exec requests past a
 * few dozen and can abort the whole connection over it (2022.83: a failed assertion in
 * common-channel.c), so the budget is never the only bound; on stock OpenSSH (MaxSessions 10)
 * this is the room left beside 6 SFTP channels.
 */
export const EXEC_CHANNELS = 4

/**
 * The channels one connection may have open at once, shared by SFTP and exec channels. Servers
 * cap sessions per connection (OpenSSH's MaxSessions: 10 by default) without saying so; a refused
 * channel open is how the cap shows. The budget learns it: a refusal lowers the limit to what was
 * open at the time, but never below the most channels the server has ever held open together (a
 * refusal then means a closed channel was not freed yet, and a later try succeeds).
 */
export class ChannelBudget {
  private open = 0
  private opening = 0
  private proven = 0
  private waiting: Array<() => void> = []
  /** Runs exec work (remote-exec.ts) at most EXEC_CHANNELS at a time. */
  readonly execs = pLimit(EXEC_CHANNELS)

  /** `limit`: what the server is known to allow (knownChannelCap), else learnt from refusals. */
  constructor(private limit = Infinity) {}

  /** Channels beyond `held` the server is known or hoped to allow. */
  roomBeyond(held: number): boolean {
    return this.limit > held
  }

  /** Waits for room, then reserves it for one channel being opened. */
  async take(): Promise<void> {
    while (this.open + this.opening >= this.limit) {
      await new Promise<void>(resolve => this.waiting.push(resolve))
    }
    this.opening++
  }

  /** The channel reserved by `take` opened. */
  opened(): void {
    this.opening--
    this.open++
    this.proven = Math.max(this.proven, this.open)
  }

  /** The server refused the channel reserved by `take`. */
  refused(): void {
    this.opening--
    this.limit = Math.max(1, this.proven, this.open)
    this.wake()
  }

  /**
   * The server held `count` channels open together and refused more: SFTP channels confirm only
   * after their version exchange, long after a refusal arrives, so `refused` cannot tell then.
   */
  capAt(count: number): void {
    this.proven = Math.max(this.proven, count)
    this.limit = Math.max(1, count)
    this.wake()
  }

  /** The room reserved by `take` is not used after all. */
  cancel(): void {
    this.opening--
    this.wake()
  }

  /** A channel that `opened` was closed. */
  closed(): void {
    this.open--
    this.wake()
  }

  private wake(): void {
    const waiting = this.waiting
    this.waiting = []
    for (const resolve of waiting) resolve()
  }
}

/**
 * Channels per connection for servers that must never be asked past their limit. ProFTPD's
 * mod_sftp (ident `SSH-2.0-mod_sftp`) refuses a channel beyond SFTPMaxChannels, 10 unless
 * configured, and then drops the whole connection, so learning the cap by a refusal is not an
 * option there. `software` is the server ident's software field.
 */
export function knownChannelCap(software: string | undefined): number {
  return /^mod_sftp\b/i.test(software ?? '') ? 10 : Infinity
}
