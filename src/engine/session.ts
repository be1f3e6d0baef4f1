import type ssh2 from 'ssh2'
import pLimit from 'p-limit'
import * as core from '@actions/core'
import { forLog } from '../escape.js'
import { hostKeyChanged } from '../connection/classify.js'
import type { VerifiedConnection } from '../connection/connect.js'
import { endConnection } from '../connection/established.js'
import { ChannelBudget, knownChannelCap } from './channel-budget.js'
import { ByteBudget, requestBudget, type RequestBudget } from './chunks.js'
import { EXTRA_CHANNELS, ExtraConnections, interleave, type Widening } from './extra-connections.js'
import { bigFileLanes, filesAtOnce } from './link-width.js'
import { Liveness } from './liveness.js'
import { SftpChannel } from './sftp.js'
import { openCounted, whySftpFailed } from './sftp-start.js'

/** How long the server may take to start an SFTP channel, unless the caller says (`timeout`). */
export const REQUEST_DEADLINE_MS = 60_000

/** Files at least this big are spread over several channels; smaller ones use one. */
export const SPREAD_THRESHOLD = 8 * 1024 * 1024

/** Files up to this size are held whole in memory while they move (see smallBytes). */
export const WHOLE_FILE_MAX = 256 * 1024

/**
 * Big files moving at once per connection. Each holds a handle on every channel it spreads over,
 * and a few already fill the requests in flight (REQUESTS_IN_FLIGHT), so more would only hold
 * handles a server may cap.
 */
const SPREAD_FILES_AT_ONCE = 8

/** Round trips a channel setup takes (open, subsystem, version, limits): to estimate the RTT. */
const SETUP_ROUND_TRIPS = 4

/**
 * A verified connection with a pool of SFTP channels. Servers cap channels per connection
 * (OpenSSH's MaxSessions defaults to 10; some allow 1 or 2), so a refused channel means "use
 * fewer", never a failure, as long as one channel opens.
 */
export class SftpSession {
  private closed = false
  private readonly watchdog: NodeJS.Timeout
  /** Caps requests in flight across all files on this connection (so, per server). */
  readonly budget: RequestBudget = requestBudget()
  /** Caps bytes of small files held whole in memory on this connection. */
  readonly smallBytes = new ByteBudget()
  private readonly spreading = pLimit(SPREAD_FILES_AT_ONCE)

  private constructor(
    readonly connection: VerifiedConnection,
    readonly channels: SftpChannel[],
    private readonly liveness: Liveness,
    stallMs: number,
    /** The round trip measured at setup, which sets how many channels a big file needs. */
    private readonly roundTripMs: number,
    /** Session channels this connection may open, SFTP and exec together. */
    readonly sessions: ChannelBudget,
    /** Which server this is, for what is decided once per server (see remote-hash.ts). */
    readonly server: string,
    /** More connections to the same server for big files (behind a jump host). */
    private readonly extras: ExtraConnections<SftpSession>
  ) {
    this.watchdog = setInterval(() => {
      const stalled = liveness.stalledForMs()
      if (stalled > stallMs)
        this.kill(
          `No answer from the server for ${Math.round(stalled / 1000)} s (the limit is twice ` +
            "'timeout', 30 to 60 s)."
        )
    }, 1000)
    this.watchdog.unref()
    // A lost extra connection is only left out of the lanes (see dead); what is left of it, its
    // socket, its other channels and its server-side processes, is of no use for the rest of the
    // step. It ends alone: it has no bastion of its own (connectViaOnce borrows the session's).
    if (liveness.extra) liveness.whenLost(() => this.kill('An extra connection was lost.'))
  }

  /**
   * Opens up to `wanted` SFTP channels. `stallMs` is how long requests may wait without any
   * answer before the connection is given up (and the retry loop reconnects); `setupMs` is how
   * long the channels may take to start (the `timeout` input). With `spare`, that many session
   * slots are left free beside them (for `sha256sum` exec channels): one more channel is opened
   * to prove the room and closed again, and a server that refuses it gets one SFTP channel fewer.
   */
  static async open(
    connection: VerifiedConnection,
    wanted: number,
    stallMs: number,
    options: {
      spare?: number
      server?: string
      setupMs?: number
      widen?: Widening
      /** Extra connections already opening (see extraConnections), used instead of `widen`. */
      extras?: ExtraConnections<SftpSession>
      /** An extra connection of another session: its loss fails only its own lanes. */
      extra?: boolean
    } = {}
  ): Promise<SftpSession> {
    const spare = options.spare ?? 0
    const setupMs = options.setupMs ?? REQUEST_DEADLINE_MS
    const cap = knownChannelCap(remoteSoftware(connection.client))
    const sessions = new ChannelBudget(cap)
    const liveness = new Liveness(options.extra)
    const markLost = (): void => liveness.abortAll('The connection was lost.')
    connection.client.on('close', markLost)
    // Over a jump host the socket is a forwarded channel: when the bastion closes it, ssh2 says
    // 'end' but no 'close' while data waits for a window that will never open again.
    connection.client.on('end', markLost)
    // The bastion's connection re-keys too; a host-key failure on either hop is final.
    for (const hop of [connection, connection.jump]) {
      hop?.client.on('error', (err: Error) =>
        liveness.abortAll('The connection was lost.', hostKeyChanged(hop, err))
      )
    }
    // Channel setups (open, subsystem, version, limits) are round trips: run them together.
    const started = Date.now()
    const opened = await Promise.allSettled(
      Array.from({ length: Math.min(wanted + spare, cap) }, () =>
        openCounted(connection.client, sessions, setupMs)
      )
    )
    const all = opened.flatMap(r => (r.status === 'fulfilled' ? [r.value] : []))
    if (all.length < opened.length) sessions.capAt(all.length)
    const keep = Math.max(1, Math.min(wanted, all.length - spare))
    for (const extra of all.slice(keep)) {
      extra.on('close', () => sessions.closed())
      extra.end()
    }
    const channels = all.slice(0, keep).map(sftp => new SftpChannel(sftp, liveness))
    const refused = opened.find(r => r.status === 'rejected')
    // Channels that started before the connection dropped are no use: the whole start failed.
    if (channels.length === 0 || liveness.lost) {
      const reason = refused?.status === 'rejected' ? (refused.reason as Error) : undefined
      const err = await whySftpFailed(connection, liveness, reason, setupMs)
      endConnection(connection)
      throw liveness.fatal ?? err
    }
    if (refused?.status === 'rejected') {
      core.debug(
        `Server allowed ${channels.length} SFTP channels: ${forLog((refused.reason as Error).message)}`
      )
    }
    const roundTripMs = (Date.now() - started) / SETUP_ROUND_TRIPS
    const server = options.server ?? connection.fingerprint
    const extras = options.extras ?? extraConnections(options.widen, stallMs, { server, setupMs })
    extras.attach((reason, err) => liveness.abortAll(reason, err))
    return new SftpSession(
      connection,
      channels,
      liveness,
      stallMs,
      roundTripMs,
      sessions,
      server,
      extras
    )
  }

  /**
   * True once the connection dropped: every error after that is the network's, not the file's.
   * A lost extra connection does not count: it only leaves the lanes (see lanesFor), and its own
   * requests in flight already failed as lost connections, so their files are retried.
   */
  get dead(): boolean {
    return this.liveness.lost
  }

  /** Why the connection ended if no reconnect may follow (the host key changed mid-session). */
  get fatal(): Error | undefined {
    return this.liveness.fatal ?? this.extras.fatal
  }

  /** Ends a connection that stopped answering, so requests still waiting fail at once. */
  kill(reason = 'The connection was given up.'): void {
    clearInterval(this.watchdog)
    this.liveness.abortAll(reason)
    this.extras.kill(reason)
    this.connection.client.destroy()
    this.connection.jump?.client.destroy()
  }

  /** The channel for control operations (mkdir, stat, rename, listing). */
  get main(): SftpChannel {
    return this.channels[0]
  }

  /**
   * How many files may be open at once on this connection: within its handle limits
   * (openFilesAllowed), fewer on a near link (filesAtOnce).
   */
  get filesInFlight(): number {
    return filesAtOnce(this.openFilesAllowed, this.roundTrip)
  }

  /**
   * Half of each channel's handle limit, so that a big file's extra lanes, listings and control
   * reads always find a free handle, and files taking turns over the channels never push one
   * channel past its limit.
   */
  get openFilesAllowed(): number {
    return this.channels.reduce((sum, c) => sum + Math.max(1, Math.floor(c.maxOpenHandles / 2)), 0)
  }

  /**
   * The round trip in ms: the setup's estimate, unless a request since came back quicker (on a
   * loaded machine the setup waited for the server to start a process per channel, and seemed a
   * far link).
   */
  get roundTrip(): number {
    return Math.min(this.roundTripMs, this.liveness.fastestAnswerMs)
  }

  /**
   * Starts opening the extra connections (behind a jump host) now, when a file of `size` bytes is
   * known to come (a download's listing, an upload's plan): their handshakes and logins then
   * overlap what comes before the first big file instead of holding it up. admit() waits for
   * the same opening, and fails as it would (a host key that matches no pin ends the session
   * either way).
   */
  expect(size: number): void {
    if (size >= SPREAD_THRESHOLD) this.extras.widen().catch(() => undefined)
  }

  /**
   * Runs the work of moving one file of `size` bytes once this connection can take it: a small
   * file waits for room in the small-file byte budget, a big one for a free spread slot.
   */
  admit<T>(size: number, work: () => Promise<T>): Promise<T> {
    if (size >= SPREAD_THRESHOLD) {
      return this.spreading(async () => {
        await this.extras.widen()
        return work()
      })
    }
    if (size <= WHOLE_FILE_MAX) return this.smallBytes.use(size, work)
    return work()
  }

  /**
   * The channels one file should use: a big file is spread over all of them so one channel's
   * fixed 2 MiB window does not cap it; small files take turns so their round trips overlap.
   * The first lane is always on this connection, whose main channel checks and renames the file
   * (an extra connection may have reached another backend); lost extra connections are left out.
   */
  lanesFor(size: number, turn: number): SftpChannel[] {
    const big = size >= SPREAD_THRESHOLD
    // Asked once per file: a small file's one lane comes without building the big files' list.
    if (!big) return [this.channels[turn % this.channels.length]]
    const extra = this.extras.sessions.filter(s => !s.dead).map(s => s.channels)
    const channels = extra.length > 0 ? interleave([this.channels, ...extra]) : this.channels
    const count = bigFileLanes(this.roundTrip, channels.length)
    const first = (turn * count) % channels.length
    const lanes = Array.from({ length: count }, (_, i) => channels[(first + i) % channels.length])
    const own = lanes.findIndex(c => this.channels.includes(c))
    if (own < 0) return [this.channels[turn % this.channels.length], ...lanes.slice(1)]
    return [...lanes.slice(own), ...lanes.slice(0, own)]
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    clearInterval(this.watchdog)
    if (!this.liveness.lost) for (const channel of this.channels) channel.end()
    this.extras.close()
    endConnection(this.connection)
    // A half-dead link may never report its close: settle whatever still waits.
    this.liveness.abortAll('The connection was closed.')
  }
}

/**
 * The extra connections of a session to come (behind a jump host), each an SftpSession of its
 * own. Made before the session when they open while its connection still logs in.
 */
export function extraConnections(
  widening: Widening | undefined,
  stallMs: number,
  options: { server: string; setupMs: number }
): ExtraConnections<SftpSession> {
  return new ExtraConnections(widening, extra =>
    SftpSession.open(extra, EXTRA_CHANNELS, stallMs, { ...options, extra: true })
  )
}

/** The software field of the server's ident (`OpenSSH_9.2p1`, `dropbear_2022.83`, `mod_sftp`). */
export function remoteSoftware(client: ssh2.Client): string | undefined {
  return (client as unknown as { _remoteVer?: string })._remoteVer
}
