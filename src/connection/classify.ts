import { AuthenticationError, ConnectionError, HostKeyError } from '../errors.js'
import { formatHostPort, type Endpoint } from '../inputs/endpoints.js'
import type { Presented } from './host-key.js'

function where(endpoint: Endpoint): string {
  return `Server ${formatHostPort(endpoint.host, endpoint.port)} (input '${endpoint.hostInput}')`
}

export function hostKeyMismatch(endpoint: Endpoint, seen: Presented[]): HostKeyError {
  const target = formatHostPort(endpoint.host, endpoint.port)
  const keys = seen.map(({ keyType, fingerprint, revoked }) => ({ keyType, fingerprint, revoked }))
  const presented = seen.length
    ? seen
        .map(p => `${p.keyType} ${p.fingerprint}${p.revoked ? ' (REVOKED by a pin)' : ''}`)
        .join('; ')
    : 'none of the pinned key types'
  const tried = endpoint.pins.map(p => p.label).join('; ')
  return new HostKeyError(
    `The host key of ${target} matches no pin in '${endpoint.pinInput}', so no credential was sent. ` +
      `The server presented: ${presented}. Pins tried: ${tried}. ` +
      'If the server was really re-keyed, read its fingerprint out of band (on the server: ' +
      'ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and update the pin; otherwise someone may ' +
      'be intercepting the connection.',
    { address: target, hostInput: endpoint.hostInput, presented: keys }
  )
}

const HOST_KEY_FAILURE = /Host denied \(verification failed\)|signature verification failed/i

/** ssh2's own report that the server's key-exchange signature did not verify. */
export function isSignatureFailure(err: Error & { level?: string }): boolean {
  return err.level === 'handshake' && /signature verification failed/i.test(err.message)
}

/**
 * ssh2 asks the verifier again on every re-key. A live session whose server then shows a key no
 * pin matches (or cannot sign with it) is dropped by ssh2; this says so as a host-key failure,
 * which is never retried, instead of letting it pass for a lost connection.
 */
export function hostKeyChanged(
  connection: { keyType: string; fingerprint: string },
  err: Error & { level?: string }
): Error | undefined {
  // ssh2 sets the level itself; a server's DISCONNECT text (no level) cannot pose as one.
  if (err.level !== 'handshake' || !HOST_KEY_FAILURE.test(err.message)) return undefined
  return new HostKeyError(
    `The server's host key changed during the session (it was ${connection.keyType} ` +
      `${connection.fingerprint}) to one that matches no pin, or the server could not prove it ` +
      'holds the key it showed; the connection was dropped. Someone may be intercepting it.'
  )
}

/**
 * The server presented a pinned key but could not sign with it: it copied someone's public key.
 * Never retried, like a mismatch.
 */
export function impostor(endpoint: Endpoint, presented: Presented): HostKeyError {
  const target = formatHostPort(endpoint.host, endpoint.port)
  return new HostKeyError(
    `${target} presented the pinned key ${presented.keyType} ${presented.fingerprint} but could ` +
      'not prove it holds it (its signature did not verify), so no credential was sent. Someone ' +
      'may be intercepting the connection.',
    {
      address: target,
      hostInput: endpoint.hostInput,
      presented: [
        { keyType: presented.keyType, fingerprint: presented.fingerprint, revoked: false }
      ]
    }
  )
}

/** Turns an ssh2 error into one the user can act on. */
export function classifyError(
  err: Error & { level?: string; code?: string | number },
  endpoint: Endpoint,
  timeoutMs: number
): Error {
  const server = where(endpoint)
  const target = formatHostPort(endpoint.host, endpoint.port)
  switch (err.level) {
    case 'client-authentication':
      return new AuthenticationError(
        `${server} rejected the login of user '${endpoint.username}'. Check the username, and that ` +
          "the public half of the private key is in that user's ~/.ssh/authorized_keys on the " +
          'server (or that the password is right).',
        { cause: err }
      )
    case 'client-timeout':
      return new ConnectionError(
        `Timed out after ${timeoutMs / 1000} s connecting to ${target}: no SSH handshake and login ` +
          "in time. Check that the port is an SSH server reachable from the runner, or raise 'timeout'.",
        false,
        { cause: err }
      )
    case 'client-dns':
      return unresolved(err, endpoint)
    case 'client-socket':
      return socketError(err, endpoint)
    default:
      return new ConnectionError(`${server}: ${err.message}`, retryable(err), { cause: err })
  }
}

/** SSH DISCONNECT reasons that end a login for good: protocol error, no more auth methods. */
const FINAL_DISCONNECTS = new Set([2, 14])

/**
 * A server DISCONNECT (no level, a reason code) such as "Too many authentication failures" is
 * final: retrying would only risk a ban. Others (too many connections, service not available)
 * may pass. Handshake failures (no common algorithm) never do.
 */
function retryable(err: Error & { level?: string; code?: string | number }): boolean {
  if (err.level === undefined)
    return typeof err.code === 'number' && !FINAL_DISCONNECTS.has(err.code)
  return err.level !== 'handshake'
}

function unresolved(err: Error & { code?: string | number }, endpoint: Endpoint): ConnectionError {
  return new ConnectionError(
    `Host '${endpoint.host}' (input '${endpoint.hostInput}') could not be resolved ` +
      `(${err.code ?? err.message}). Check the name.`,
    false,
    { cause: err }
  )
}

function socketError(err: Error & { code?: string | number }, endpoint: Endpoint): ConnectionError {
  const target = formatHostPort(endpoint.host, endpoint.port)
  if (err.code === 'ECONNREFUSED') {
    return new ConnectionError(
      `Connection to ${target} was refused: nothing listens there. Check '${endpoint.hostInput}' ` +
        `and '${endpoint.hostInput.replace(/host$/, 'port')}'.`,
      false,
      { cause: err }
    )
  }
  if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') return unresolved(err, endpoint)
  return new ConnectionError(`Network error talking to ${target}: ${err.message}`, true, {
    cause: err
  })
}

export function closedBeforeLogin(endpoint: Endpoint): ConnectionError {
  return new ConnectionError(
    `${where(endpoint)} closed the connection before login completed (a server throttling ` +
      'logins, e.g. MaxStartups, does this).',
    true
  )
}

const NETWORK_MESSAGES =
  /ECONNRESET|EPIPE|ETIMEDOUT|ECONNABORTED|Not connected|No response from server|Channel not open|connection (lost|closed)|socket hang up|Keepalive timeout/i

/** ssh2's and Node's words for a connection that went away under a request. */
export function isNetworkMessage(message: string): boolean {
  return NETWORK_MESSAGES.test(message)
}

/** How an SFTP channel failed to start, as seen on the connection it was asked on. */
export interface SftpStartContext {
  /** `host:port`, for the message. */
  address: string
  timeoutMs: number
  /** The SSH connection closed while the channels started. */
  lost: boolean
  /** The channels did not answer within `timeoutMs`. */
  timedOut: boolean
  /** The connection answered a keepalive after the failure: the server is there and chose this. */
  answers: boolean
}

/**
 * A failed SFTP start, told apart by what happened rather than by the phase: a connection that
 * dropped or stopped answering while the channels started is the network's fault and is retried;
 * a live server that refuses the subsystem, prints text where the protocol belongs, or answers
 * SSH but leaves SFTP silent is misconfigured, and retrying would only repeat it.
 */
export function sftpStartFailure(
  err: Error & { code?: unknown },
  context: SftpStartContext
): ConnectionError {
  const { address } = context
  const seconds = context.timeoutMs / 1000
  if (context.lost || !context.answers) {
    const what = context.lost
      ? 'the connection was lost'
      : context.timedOut
        ? `no answer within ${seconds} s ('timeout'), and the connection stopped answering`
        : 'the connection stopped answering'
    return new ConnectionError(`SFTP could not start on ${address}: ${what}.`, true, {
      cause: err
    })
  }
  if (context.timedOut) {
    return new ConnectionError(
      `${address} answers SSH, but its SFTP subsystem did not answer within ${seconds} s ` +
        "('timeout'). Check the server's sftp-server (the 'Subsystem sftp' line of its " +
        "sshd_config), or raise 'timeout' for a very slow server.",
      false,
      { cause: err }
    )
  }
  // Text from a login script arrives where the SFTP version packet should: ssh2 reads its first
  // bytes as a huge length ("Packet length ... exceeds max length") or an unexpected type.
  if (/Expected VERSION packet|Packet length \d+ exceeds max length/i.test(err.message)) {
    return new ConnectionError(
      `The server refused to start SFTP: ${err.message}. The login shell printed text on the ` +
        'SFTP channel (a banner or MOTD in .bashrc); make it print nothing for non-interactive ' +
        'sessions.',
      false,
      { cause: err }
    )
  }
  // ssh2 says this when the channel closed before the subsystem's first packet and no exit
  // status came: a channel that ended before it started, worth another connection.
  if (/unexpected SFTP session termination/i.test(err.message)) {
    return new ConnectionError(
      `SFTP could not start on ${address}: the channel ended before SFTP started.`,
      true,
      { cause: err }
    )
  }
  return new ConnectionError(
    `The server refused to start SFTP: ${err.message}. Check that its sshd has a ` +
      "'Subsystem sftp' line.",
    false,
    { cause: err }
  )
}

const TIMEOUT_TEXT =
  /timed out|time ?out|No answer from the server|did not answer|stopped answering/i

/** A transient fault in a few words, for the retry lines and the error after the last retry. */
export function faultOf(err: unknown): string {
  const fields = (err ?? {}) as { level?: string; code?: unknown; cause?: unknown }
  const text = err instanceof Error ? err.message : String(err)
  if (fields.level === 'client-timeout' || TIMEOUT_TEXT.test(text)) return 'timed out'
  if (fields.code === 'ECONNREFUSED' || /\bwas refused\b|ECONNREFUSED/.test(text)) {
    return 'connection refused'
  }
  if (/before login completed/.test(text)) return 'closed before login'
  return 'connection lost'
}
