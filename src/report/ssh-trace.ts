import * as core from '@actions/core'
import { forLog } from '../escape.js'

/**
 * Lines ssh2 writes for every SFTP request and answer, data packet and window update: about a
 * dozen per file, 117,000 lines (6 MB) for a 10,000-file deploy. Under step debug they buried
 * the lines worth reading (connection, channels, timings), and their strings raised a
 * 50,000-file deploy's peak memory from about 171 to 249-267 MiB.
 */
const ROUTINE = new RegExp(
  '^(?:SFTP: Outbound: (?:Buffered|Sending|Sent) (?:OPEN|CLOSE|READ|WRITE|FSTAT|FSETSTAT|' +
    'SETSTAT|STAT|LSTAT|OPENDIR|READDIR|REMOVE|MKDIR|RMDIR|RENAME|REALPATH|READLINK|SYMLINK|' +
    '(?:posix-rename|lsetstat|hardlink|fsync)@openssh\\.com)\\b' +
    '|SFTP: Inbound: Received (?:HANDLE|DATA|NAME|ATTRS|STATUS \\(id:\\d+, [01],)' +
    '|(?:Inbound: |Outbound: Sending )CHANNEL_(?:DATA|EXTENDED_DATA|WINDOW_ADJUST) )'
)

/**
 * A request the server refused: rare, and it says what went wrong, so it has a budget of its own.
 * Status 1 (end of file) is routine: every listing and every read to a file's end ends with one.
 */
const REFUSED = /^SFTP: Inbound: Received STATUS \(id:\d+, (?:[2-9]|\d\d)/

/** How many of each kind a step logs: the start of a run shows the exchange in full. */
export const TRACE_LINES = 500

/**
 * ssh2's debug output for the step debug log, each line escaped (a server's status messages and
 * banners are in it). Lines about the connection, its channels and its algorithms are all kept;
 * of the per-request lines, and of refused requests, the first TRACE_LINES each.
 */
export class SshTrace {
  private readonly shown = { routine: 0, refused: 0 }
  private readonly left = { routine: 0, refused: 0 }

  constructor(
    private readonly write: (line: string) => void,
    private readonly limit = TRACE_LINES
  ) {}

  readonly line = (message: string): void => {
    const kind = ROUTINE.test(message) ? 'routine' : REFUSED.test(message) ? 'refused' : undefined
    if (kind !== undefined) {
      if (this.shown[kind] >= this.limit) {
        if (this.left[kind]++ === 0) this.write(LEFT_OUT[kind](this.limit))
        return
      }
      this.shown[kind]++
    }
    this.write(forLog(message))
  }

  /** One line saying how much was left out, if anything was. */
  summary(): void {
    const { routine, refused } = this.left
    if (routine + refused === 0) return
    this.write(
      `ssh2 trace: left out ${routine} per-request lines and ${refused} refused requests ` +
        `after the first ${this.limit} of each.`
    )
  }
}

const LEFT_OUT = {
  routine: (limit: number) =>
    `ssh2 trace: after ${limit} lines about single requests, data packets and window updates, ` +
    'the rest are left out; connection and channel lines are still logged.',
  refused: (limit: number) =>
    `ssh2 trace: after ${limit} refused requests, the rest are left out of this trace; ` +
    'each failed transfer is still reported.'
}

let stepTrace: SshTrace | undefined

/** The step's trace for ssh2's `debug` option, or undefined (no strings built) without step debug. */
export function sshDebug(): ((message: string) => void) | undefined {
  if (!core.isDebug()) return undefined
  stepTrace ??= new SshTrace(line => core.debug(line))
  return stepTrace.line
}

/** Says, at the end of the step, how much of ssh2's trace was left out. */
export function endSshTrace(): void {
  stepTrace?.summary()
}
