import type ssh2 from 'ssh2'
import { SFTP_STATUS } from './sftp-stat.js'

/** What SftpChannel offers requests that track themselves as one (see its track()). */
export interface Tracker {
  track(abort: (err: Error) => void, what: () => string): unknown
  heard(sentAt: number | undefined): void
  untrack(abort: (err: Error) => void): void
  failure(err: unknown, what?: () => string): unknown
}

type Failed = Error & { code?: number | string }

/**
 * SftpChannel.readWhole: open, then one read and the close sent together, on a server that
 * answers in order. Each small file of a download takes this way, tens of thousands of times:
 * one promise and one tracked entry for its three requests, instead of a promise, its closures
 * and a tracked entry per request (most of what a small file allocated on the main thread,
 * which also decrypts every answer).
 */
export function readWholeInOrder(
  tracker: Tracker,
  sftp: ssh2.SFTPWrapper,
  path: string,
  buffer: Buffer,
  length: number
): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    new WholeRead(tracker, sftp, path, buffer, length, resolve, reject).start()
  })
}

/** One file's open, read and close; settles once, when every answer came or on an abort. */
class WholeRead {
  private due = 0
  private sentAt = 0
  private got = 0
  private readError: unknown
  private closeError: unknown
  private settled = false
  /** Registered with the connection's liveness for all three requests (see Tracker). */
  private readonly abort = (err: Error): void => this.fail(this.tracker.failure(err))

  constructor(
    private readonly tracker: Tracker,
    private readonly sftp: ssh2.SFTPWrapper,
    private readonly path: string,
    private readonly buffer: Buffer,
    private readonly length: number,
    private readonly resolve: (got: number) => void,
    private readonly reject: (err: unknown) => void
  ) {}

  start(): void {
    const refused = this.tracker.track(this.abort, () => `open ${this.path}`)
    if (refused !== undefined) {
      this.settled = true
      this.reject(refused)
      return
    }
    this.sentAt = performance.now()
    try {
      this.sftp.open(this.path, 'r', (err, handle) => this.opened(err, handle))
    } catch (err) {
      this.fail(this.tracker.failure(err, () => `open ${this.path}`))
    }
  }

  private opened(err: Failed | null | undefined, handle: Buffer): void {
    if (this.settled) return
    this.tracker.heard(fromServer(err) ? this.sentAt : undefined)
    if (err) return this.fail(this.tracker.failure(err, () => `open ${this.path}`))
    this.sentAt = performance.now()
    this.due = 2
    try {
      this.sftp.read(handle, this.buffer, 0, this.length, 0, (e, n) => this.read(e, n))
    } catch (e) {
      this.read(e as Failed, 0, true)
    }
    try {
      this.sftp.close(handle, e => this.closed(e))
    } catch (e) {
      this.closed(e as Failed, true)
    }
  }

  private read(err: Failed | null | undefined, bytes: number, thrown = false): void {
    if (this.settled) return
    if (!thrown) this.tracker.heard(fromServer(err) ? this.sentAt : undefined)
    if (!err) this.got = bytes
    else if (err.code !== SFTP_STATUS.EOF) this.readError = this.tracker.failure(err, () => 'read')
    this.answered()
  }

  private closed(err: Failed | null | undefined, thrown = false): void {
    if (this.settled) return
    if (!thrown) this.tracker.heard(fromServer(err) ? this.sentAt : undefined)
    if (err) this.closeError = this.tracker.failure(err, () => 'close')
    this.answered()
  }

  private answered(): void {
    if (--this.due > 0) return
    this.settled = true
    this.tracker.untrack(this.abort)
    if (this.readError !== undefined) this.reject(this.readError)
    else if (this.closeError !== undefined) this.reject(this.closeError)
    else this.resolve(this.got)
  }

  private fail(err: unknown): void {
    if (this.settled) return
    this.settled = true
    this.tracker.untrack(this.abort)
    this.reject(err)
  }
}

/** An SFTP status is the server's answer too; other errors are ssh2's own (see call()). */
function fromServer(err: Failed | null | undefined): boolean {
  return !err || typeof err.code === 'number'
}
