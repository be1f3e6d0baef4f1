import type ssh2 from 'ssh2'
import { isNetworkMessage } from '../connection/classify.js'
import { ConnectionError, ExtraConnectionLost } from '../errors.js'
import { Liveness } from './liveness.js'

export type SftpError = Error & { code?: number | string }

/**
 * An SFTP channel's requests, each tracked by the connection's Liveness: ssh2 has no request
 * timeout, and a half-dead connection would otherwise leave a step hanging until the job limit.
 * What a failed request means (the server's answer, a lost connection, a lost extra connection)
 * is decided here, once, for every operation SftpChannel offers.
 */
export class TrackedSftp {
  /** This channel's own waiting calls: a channel can close while the connection stays up. */
  private readonly waiting = new Set<(err: Error) => void>()
  private closed = false

  constructor(
    protected readonly sftp: ssh2.SFTPWrapper,
    private readonly liveness: Liveness = new Liveness()
  ) {
    // ssh2 drops requests sent on a closed channel without ever answering them.
    sftp.on('close', () => {
      this.closed = true
      const err = this.laneLost(
        new ConnectionError('An SFTP channel was closed by the server.', true)
      ) as Error
      for (const reject of [...this.waiting]) reject(err)
      this.waiting.clear()
    })
  }

  /**
   * Whether `other` rides the same connection. Connections opened one by one through a jump
   * host may reach different backends of one name, so only such channels surely see one file.
   */
  sharesConnectionWith(other: TrackedSftp): boolean {
    return this.liveness === other.liveness
  }

  /**
   * For requests sent on this channel's ssh2 wrapper and tracked as one (whole-read.ts):
   * registers `abort` as call() does for each request. Returns why nothing may be sent, if so.
   */
  track(abort: (err: Error) => void, what: () => string): unknown {
    if (this.liveness.lost || this.closed) {
      return this.laneLost(
        this.liveness.fatal ??
          new ConnectionError(`The connection was lost before '${what()}'.`, true)
      )
    }
    this.liveness.begin(abort)
    this.waiting.add(abort)
    return undefined
  }

  /** An answer to one of the requests under track(): `sentAt` when it came from the server. */
  heard(sentAt: number | undefined): void {
    this.liveness.heard(sentAt)
  }

  /** Once every request under track() was answered, or `abort` was called. */
  untrack(abort: (err: Error) => void): void {
    this.liveness.answered(abort)
    this.waiting.delete(abort)
  }

  /** What a request's error becomes, as in call(); without `what`, an abort's error. */
  failure(err: unknown, what?: () => string): unknown {
    return this.laneLost(what ? this.networkFault(err, what()) : err)
  }

  /**
   * On an extra connection, network trouble is that connection's alone: it is dropped (no file
   * gets lanes on it again) and the error says so, so that the session's own connection, which
   * still works, is not given up with it (retry.ts).
   */
  private laneLost(err: unknown): unknown {
    if (!this.liveness.extra || err instanceof ExtraConnectionLost) return err
    if (!(err instanceof ConnectionError) || !err.transient || this.liveness.fatal) return err
    this.liveness.abortAll('An extra connection through the jump host was lost.')
    return new ExtraConnectionLost(err.message, { cause: err })
  }

  /**
   * A request that failed without an SFTP status (ssh2's "No response from server" when the
   * channel or connection closed under it, say) failed because of the network: it becomes a
   * ConnectionError, so that every caller, whatever layer, can tell it from "no such file".
   */
  private networkFault(err: unknown, what: string): unknown {
    if (err instanceof ConnectionError || typeof (err as SftpError)?.code === 'number') return err
    const message = err instanceof Error ? err.message : String(err)
    if (this.liveness.fatal) return this.liveness.fatal
    if (!this.liveness.lost && !this.closed && !isNetworkMessage(message)) return err
    return new ConnectionError(`The connection was lost during '${what}' (${message}).`, true, {
      cause: err
    })
  }

  protected call<T>(
    what: string,
    start: (cb: (err: Error | null | undefined, value?: T) => void) => void
  ): Promise<T> {
    return new Promise<T>((resolve, settleError) => {
      const reject = (err: unknown): void => settleError(this.laneLost(err))
      // ssh2 queues requests on a closed channel and never answers them: refuse them instead.
      if (this.liveness.lost || this.closed) {
        reject(
          this.liveness.fatal ??
            new ConnectionError(`The connection was lost before '${what}'.`, true)
        )
        return
      }
      const { liveness, waiting } = this
      const sentAt = liveness.begin(reject)
      waiting.add(reject)
      try {
        start((err, value) => {
          // An SFTP status is the server's answer too; other errors are ssh2's own.
          const fromServer = !err || typeof (err as SftpError).code === 'number'
          liveness.answered(reject, fromServer ? sentAt : undefined)
          waiting.delete(reject)
          if (err) reject(this.networkFault(err, what))
          else resolve(value as T)
        })
      } catch (err) {
        liveness.answered(reject)
        waiting.delete(reject)
        reject(this.networkFault(err, what))
      }
    })
  }
}
