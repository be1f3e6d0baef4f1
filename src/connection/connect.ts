import * as core from '@actions/core'
import ssh2 from 'ssh2'
import { backoffMs } from './backoff.js'
import type { Duplex } from 'node:stream'
import { AuthenticationError, ConnectionError, HostKeyError } from '../errors.js'
import type { Endpoint } from '../inputs/settings.js'
import { formatHostPort } from '../inputs/settings.js'
import { algorithmsFor, keyTypePlan, makeHostVerifier, type Presented } from './host-key.js'

/** A logged-in connection whose host key matched a pin. */
export interface VerifiedConnection {
  client: ssh2.Client
  /** Key type the server presented, e.g. `ssh-ed25519`. */
  keyType: string
  /** OpenSSH-style SHA256 fingerprint of the presented key. */
  fingerprint: string
  /** Which pin matched, as shown to users. */
  pinLabel: string
}

export interface ConnectOptions {
  timeoutMs: number
  /** Extra tries when the server drops the connection before login (as throttling servers do). */
  retries: number
  /** An already-open stream to the server (through a jump host) instead of a TCP socket. */
  sock?: Duplex
  /** ssh2 debug sink, for `ACTIONS_STEP_DEBUG`. */
  debug?: (message: string) => void
}

/**
 * Connects, checks the host key against the pins, and only then logs in. When the pins do not
 * say which key type they are for, each key type the server has is tried on its own connection;
 * every one that does not match is rejected during key exchange, before authentication starts.
 */
export async function connectVerified(
  endpoint: Endpoint,
  options: ConnectOptions
): Promise<VerifiedConnection> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await connectOnce(endpoint, options)
    } catch (err) {
      const retry = err instanceof ConnectionError && err.transient && !options.sock
      if (!retry || attempt > options.retries) throw err
      const wait = backoffMs(attempt)
      core.warning(`${err.message} Trying again in ${wait / 1000} s.`)
      await new Promise(resolve => setTimeout(resolve, wait))
    }
  }
}

async function connectOnce(
  endpoint: Endpoint,
  options: ConnectOptions
): Promise<VerifiedConnection> {
  const remaining = keyTypePlan(endpoint.pins)
  const seen: Presented[] = []
  while (remaining.length > 0) {
    const attempt = await attemptOnce(endpoint, options, remaining, seen)
    if (attempt.kind === 'ready') return attempt.connection
    if (attempt.kind === 'no-such-type') break
    const rejected = seen[seen.length - 1]
    // A revoked key is final: asking for another type would only hide the revocation.
    if (!rejected.verdict.accepted && rejected.verdict.revoked) break
    remaining.splice(0, remaining.length, ...remaining.filter(t => t !== rejected.keyType))
    if (options.sock) break // a forwarded stream can be used once
  }
  throw hostKeyMismatch(endpoint, seen)
}

type Attempt =
  | { kind: 'ready'; connection: VerifiedConnection }
  | { kind: 'rejected' }
  | { kind: 'no-such-type' }

function attemptOnce(
  endpoint: Endpoint,
  options: ConnectOptions,
  keyTypes: string[],
  seen: Presented[]
): Promise<Attempt> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client()
    const seenBefore = seen.length
    let settled = false
    const finish = (fn: () => void): void => {
      if (settled) return
      settled = true
      fn()
    }
    client.once('ready', () => {
      client.setNoDelay(true)
      const presented = seen[seen.length - 1]
      finish(() =>
        resolve({
          kind: 'ready',
          connection: {
            client,
            keyType: presented.keyType,
            fingerprint: presented.fingerprint,
            pinLabel: presented.verdict.accepted ? presented.verdict.pin.label : ''
          }
        })
      )
    })
    client.on('error', (err: Error & { level?: string }) => {
      client.end()
      finish(() => {
        const rejectedHere = seen.length > seenBefore && !seen[seen.length - 1].verdict.accepted
        if (rejectedHere) resolve({ kind: 'rejected' })
        else if (/no matching host key format/i.test(err.message)) resolve({ kind: 'no-such-type' })
        else reject(classifyError(err, endpoint, options.timeoutMs))
      })
    })
    client.on('close', () =>
      finish(() =>
        reject(
          new ConnectionError(
            `${where(endpoint)} closed the connection before login completed.`,
            true
          )
        )
      )
    )
    try {
      client.connect(connectConfig(endpoint, options, keyTypes, seen))
    } catch (err) {
      finish(() => reject(classifyError(err as Error, endpoint, options.timeoutMs)))
    }
  })
}

function connectConfig(
  endpoint: Endpoint,
  options: ConnectOptions,
  keyTypes: string[],
  seen: Presented[]
): ssh2.ConnectConfig {
  const { privateKey, password } = endpoint.credentials
  return {
    host: endpoint.host,
    port: endpoint.port,
    username: endpoint.username,
    sock: options.sock,
    privateKey: privateKey?.key,
    passphrase: privateKey?.passphrase,
    password,
    tryKeyboard: false,
    readyTimeout: options.timeoutMs,
    keepaliveInterval: 10_000,
    keepaliveCountMax: 3,
    hostVerifier: makeHostVerifier(endpoint.pins, seen),
    algorithms: { serverHostKey: algorithmsFor(keyTypes) as ssh2.ServerHostKeyAlgorithm[] },
    debug: options.debug
  }
}

function where(endpoint: Endpoint): string {
  return `Server ${formatHostPort(endpoint.host, endpoint.port)} (input '${endpoint.hostInput}')`
}

function hostKeyMismatch(endpoint: Endpoint, seen: Presented[]): HostKeyError {
  const target = formatHostPort(endpoint.host, endpoint.port)
  const presented = seen.length
    ? seen
        .map(
          p =>
            `${p.keyType} ${p.fingerprint}${!p.verdict.accepted && p.verdict.revoked ? ' (REVOKED by a pin)' : ''}`
        )
        .join('; ')
    : 'none of the pinned key types'
  const tried = endpoint.pins.map(p => p.label).join('; ')
  return new HostKeyError(
    `The host key of ${target} matches no pin in '${endpoint.pinInput}', so no credential was sent. ` +
      `The server presented: ${presented}. Pins tried: ${tried}. ` +
      'If the server was really re-keyed, read its fingerprint out of band (on the server: ' +
      'ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and update the pin; otherwise someone may ' +
      'be intercepting the connection.'
  )
}

function classifyError(
  err: Error & { level?: string; code?: string },
  endpoint: Endpoint,
  timeoutMs: number
): Error {
  const server = where(endpoint)
  const target = formatHostPort(endpoint.host, endpoint.port)
  switch (err.level) {
    case 'client-authentication':
      return new AuthenticationError(
        `${server} rejected the login of user '${endpoint.username}'. Check 'username', and that ` +
          "the public half of 'private-key' is in that user's ~/.ssh/authorized_keys on the server " +
          "(or that 'password' is right).",
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
      return new ConnectionError(
        `Host '${endpoint.host}' (input '${endpoint.hostInput}') could not be resolved (${err.code ?? err.message}). Check the name.`,
        false,
        { cause: err }
      )
    case 'client-socket':
      return socketError(err, endpoint)
    default:
      return new ConnectionError(`${server}: ${err.message}`, err.level !== 'handshake', {
        cause: err
      })
  }
}

function socketError(err: Error & { code?: string }, endpoint: Endpoint): ConnectionError {
  const target = formatHostPort(endpoint.host, endpoint.port)
  if (err.code === 'ECONNREFUSED') {
    return new ConnectionError(
      `Connection to ${target} was refused: nothing listens there. Check 'host' and 'port'.`,
      false,
      { cause: err }
    )
  }
  if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') {
    return new ConnectionError(
      `Host '${endpoint.host}' (input '${endpoint.hostInput}') could not be resolved. Check the name.`,
      false,
      { cause: err }
    )
  }
  return new ConnectionError(`Network error talking to ${target}: ${err.message}`, true, {
    cause: err
  })
}
