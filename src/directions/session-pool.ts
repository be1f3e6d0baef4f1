import { withRetries } from '../connection/retry-policy.js'
import { ConnectionError } from '../errors.js'
import { isTransient, killIfNetwork, type Reconnectable } from '../engine/retry.js'

/**
 * The connections one server (or a relay's pair of servers) gets during a step, and the step's
 * one retry policy: every phase runs on the live connection, and a transient fault costs a
 * reconnection with backoff, up to `retries` per phase, wherever it happens. `current` is the
 * connection to finish work on; `closeAll` ends every one of them.
 */
export class SessionPool<S extends Reconnectable> {
  private readonly opened: S[] = []
  private latest: S | undefined

  constructor(
    /** `host:port`, as the log and errors name it. */
    readonly address: string,
    private readonly retries: number,
    private readonly open: () => Promise<S>,
    first?: S
  ) {
    if (first) this.adopt(first)
  }

  get current(): S {
    if (!this.latest) throw new Error(`no connection to ${this.address} yet`)
    return this.latest
  }

  /** A live connection: the last one while it is up, else one new attempt (callers retry). */
  readonly connect = async (): Promise<S> => {
    if (this.latest && !this.latest.dead) return this.latest
    return this.adopt(await this.open())
  }

  /** Connects (key exchange, login, SFTP start), retrying as any phase does. */
  first(): Promise<S> {
    return this.phase(`connecting to ${this.address}`, async session => session)
  }

  /**
   * Runs `work` on a live connection. After a transient fault the connection is given up and
   * `work` runs again on a new one; what it already finished it must keep itself.
   */
  phase<T>(what: string, work: (session: S) => Promise<T>): Promise<T> {
    return withRetries({
      what,
      retries: this.retries,
      attempt: async () => {
        const session = await this.connect()
        return work(session).catch(killIfNetwork(session))
      },
      // Once the server was reached, a refused or timed-out reconnection is a server
      // restarting, not a wrong address. Host-key and login failures are never ConnectionErrors.
      transient: err =>
        (this.opened.length > 0 && err instanceof ConnectionError) || isTransient(err, this.latest)
    })
  }

  closeAll(): void {
    for (const session of this.opened) session.close()
  }

  private adopt(session: S): S {
    this.opened.push(session)
    this.latest = session
    return session
  }
}
