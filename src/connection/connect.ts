import { Socket } from 'node:net'
import { Writable, type Duplex } from 'node:stream'
import ssh2 from 'ssh2'
import { ConnectionError } from '../errors.js'
import { formatHostPort, type Endpoint } from '../inputs/endpoints.js'
import {
  classifyError,
  closedBeforeLogin,
  hostKeyChanged,
  hostKeyMismatch,
  impostor,
  isSignatureFailure
} from './classify.js'
import { authHandlerFor } from './keyboard.js'
import { algorithmsFor, keyTypePlan, makeHostVerifier, type Presented } from './host-key.js'
import { signAtOnce } from './sign-at-once.js'
import { withRetries } from './retry-policy.js'
import { coalesceWrites } from './write-batching.js'

/** A logged-in connection whose host key matched a pin. */
export interface VerifiedConnection {
  client: ssh2.Client
  /** Key type the server presented, e.g. `ssh-ed25519`. */
  keyType: string
  /** OpenSSH-style SHA256 fingerprint of the presented key. */
  fingerprint: string
  /** Which pin matched, as shown to users. */
  pinLabel: string
  /** `host:port`, as messages name the server. */
  address: string
  /** The bastion this connection runs through, closed along with it. */
  jump?: VerifiedConnection
}

export interface ConnectOptions {
  timeoutMs: number
  /** Extra tries when the server drops the connection before login (as throttling servers do). */
  retries: number
  /** ssh2 debug sink, for `ACTIONS_STEP_DEBUG`. */
  debug?: (message: string) => void
  /**
   * Logging in waits for this (a relay's check of its destination): the key exchange pauses once
   * the host key matched, so nothing reaches the server until it settles, and `false` (or a
   * rejection) ends the attempt before any credential is sent.
   */
  gate?: Promise<boolean>
  /**
   * Credentials wait for this (another connection's login with them): key exchange, host-key
   * check and the request for the authentication service go ahead, so only the login's own
   * round trip is left once it settles; `false` (or a rejection) ends the attempt before any
   * credential is sent.
   */
  login?: Promise<boolean>
  /**
   * Called once a jump host is verified and logged in, before the server behind it is reached
   * (once per attempt): more connections through it can start alongside this one.
   */
  onJump?: (jump: VerifiedConnection) => void
}

/** Opens the byte stream an attempt runs over: a TCP socket, or a channel through a bastion. */
type SocketOpener = (() => Promise<Duplex>) | undefined

/**
 * Connects, checks the host key against the pins, and only then logs in. A jump host is
 * connected and verified first, and the server is then reached through it and verified again
 * with its own pins. Transient failures (a dropped or throttled login) are retried with backoff.
 */
export async function connectVerified(
  endpoint: Endpoint,
  options: ConnectOptions
): Promise<VerifiedConnection> {
  return withRetries({
    what: `connecting to ${formatHostPort(endpoint.host, endpoint.port)}`,
    retries: options.retries,
    attempt: () => connectOnce(endpoint, options, false),
    transient: isTransientConnect
  })
}

/** One attempt at connectVerified, for callers that run their own retry loop. */
export function connectVerifiedOnce(
  endpoint: Endpoint,
  options: ConnectOptions
): Promise<VerifiedConnection> {
  return connectOnce(endpoint, options, false)
}

/**
 * One attempt at one more connection to a server behind a bastion, over a new forwarded
 * channel of the bastion connection `via` that an earlier connection made. The server's key is
 * checked against the same pins, so a mismatch here fails closed too. Each forwarded channel has
 * its own window, which is why a big file spreads over several such connections.
 */
export function connectViaOnce(
  endpoint: Endpoint,
  via: VerifiedConnection,
  options: ConnectOptions
): Promise<VerifiedConnection> {
  return connectOnce(endpoint, options, false, via)
}

/** Host-key and login failures are never retried; a dropped or throttled login is. */
export function isTransientConnect(err: unknown): boolean {
  return err instanceof ConnectionError && err.transient
}

/**
 * Checks that the server at `endpoint` holds a pinned key, without logging in to it: the
 * connection is dropped during key exchange. Used so a relay learns that the destination is
 * the right server before it sends any credential anywhere.
 */
export async function probeHostKey(
  endpoint: Endpoint,
  options: ConnectOptions
): Promise<Presented> {
  const result = await withRetries({
    what: `checking the host key of ${formatHostPort(endpoint.host, endpoint.port)}`,
    retries: options.retries,
    attempt: () => connectOnce(endpoint, options, true),
    transient: isTransientConnect
  })
  return result.presented
}

async function connectOnce<P extends boolean>(
  endpoint: Endpoint,
  options: ConnectOptions,
  probe: P,
  via?: VerifiedConnection
): Promise<P extends true ? { presented: Presented } : VerifiedConnection>
async function connectOnce(
  endpoint: Endpoint,
  options: ConnectOptions,
  probe: boolean,
  via?: VerifiedConnection
): Promise<VerifiedConnection | { presented: Presented }> {
  // The caller's loop retries the whole path; retrying the hop here too would multiply attempts.
  const jump =
    via ??
    (endpoint.jump
      ? await connectOnce(endpoint.jump, { ...options, onJump: undefined }, false)
      : undefined)
  // A borrowed bastion connection belongs to whoever made it: it is neither ended nor attached.
  const own = via ? undefined : jump
  let announced = false
  const openSocket: SocketOpener = jump
    ? () => {
        const socket = forward(jump.client, endpoint, options.timeoutMs)
        // After this connection's forward is asked for: the bastion reaches the server for it
        // first, so a server that takes only so many connections at once takes this one.
        if (own && !probe && !announced) {
          announced = true
          options.onJump?.(own)
        }
        return socket
      }
    : undefined
  try {
    const remaining = keyTypePlan(endpoint.pins)
    const seen: Presented[] = []
    while (remaining.length > 0) {
      const attempt = await attemptOnce(endpoint, options, remaining, seen, openSocket, probe)
      if (attempt.kind === 'ready') return { ...attempt.connection, ...(own ? { jump: own } : {}) }
      if (attempt.kind === 'proven') return { presented: attempt.presented }
      if (attempt.kind === 'no-such-type') break
      const last = seen[seen.length - 1]
      // A revoked key is final: asking for another type would only hide the revocation.
      if (last.revoked) break
      remaining.splice(0, remaining.length, ...remaining.filter(t => t !== last.keyType))
    }
    throw hostKeyMismatch(endpoint, seen)
  } catch (err) {
    own?.client.end()
    throw err
  } finally {
    if (probe) own?.client.end()
  }
}

type Attempt =
  | { kind: 'ready'; connection: VerifiedConnection }
  /** A probe: the key matched a pin and the server proved it holds it; nothing else was sent. */
  | { kind: 'proven'; presented: Presented }
  | { kind: 'rejected' }
  | { kind: 'no-such-type' }

async function attemptOnce(
  endpoint: Endpoint,
  options: ConnectOptions,
  keyTypes: string[],
  seen: Presented[],
  openSocket: SocketOpener,
  probe: boolean
): Promise<Attempt> {
  const sock = openSocket ? await openSocket() : undefined
  const target = formatHostPort(endpoint.host, endpoint.port)
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client()
    const seenBefore = seen.length
    let settled = false
    const finish = (fn: () => void): void => {
      if (!settled) {
        settled = true
        fn()
      }
    }
    // Key exchange done: the server signed with the pinned key. A probe hangs up here, before
    // ssh2 asks for the authentication service, so the server sees no login attempt at all.
    let proven: Presented | undefined
    client.once('handshake', () => {
      proven = seen[seen.length - 1]
      if (!probe) return
      const presented = proven
      finish(() => resolve({ kind: 'proven', presented }))
      client.end()
      // A server that never closes must not keep the process waiting on ssh2's ready timer.
      setTimeout(() => client.destroy(), 2000).unref()
    })
    client.once('ready', () => {
      client.setNoDelay(true)
      coalesceWrites(client)
      const presented = seen[seen.length - 1]
      const { keyType, fingerprint, pinLabel } = presented
      finish(() =>
        resolve({
          kind: 'ready',
          connection: { client, keyType, fingerprint, pinLabel, address: target }
        })
      )
    })
    client.on('error', (err: Error & { level?: string }) => {
      client.end()
      finish(() => {
        const last = seen.length > seenBefore ? seen[seen.length - 1] : undefined
        // A re-key during login: the first key was proven, so this is a change, not a mismatch.
        const changed = proven ? hostKeyChanged(proven, err) : undefined
        if (changed) {
          reject(changed)
        } else if (last && !last.accepted) {
          // Our verifier said no: nothing was sent.
          resolve({ kind: 'rejected' })
        } else if (last && isSignatureFailure(err)) {
          reject(impostor(endpoint, last))
        } else if (/no matching host key format/i.test(err.message)) {
          resolve({ kind: 'no-such-type' })
        } else reject(classifyError(err, endpoint, options.timeoutMs))
      })
    })
    client.on('close', () => finish(() => reject(closedBeforeLogin(endpoint))))
    try {
      const refuse = (err: Error): void => {
        finish(() => reject(err))
        client.end()
      }
      client.connect(connectConfig(endpoint, options, keyTypes, seen, sock, probe, refuse))
      if (!probe) signAtOnce(client)
    } catch (err) {
      finish(() => reject(classifyError(err as Error, endpoint, options.timeoutMs)))
    }
  })
}

/** ssh2's settings for one attempt. A probe's hold no credential and allow no login method. */
export function connectConfig(
  endpoint: Endpoint,
  options: ConnectOptions,
  keyTypes: string[],
  seen: Presented[],
  sock: Duplex | undefined,
  probe: boolean,
  refuse: (err: Error) => void = () => undefined
): ssh2.ConnectConfig {
  // A probe never holds a credential, so nothing it does can log in, whatever ssh2 decides.
  const { privateKey, password } = probe ? {} : endpoint.credentials
  return {
    host: endpoint.host,
    port: endpoint.port,
    username: endpoint.username,
    ...(sock ? { sock } : {}),
    privateKey: privateKey?.key,
    passphrase: privateKey?.passphrase,
    password,
    tryKeyboard: false,
    // ssh2 starts with method 'none' by default: a wasted round trip on every login.
    authHandler: probe ? [] : afterLogin(options.login, authHandlerFor(endpoint, refuse)),
    readyTimeout: options.timeoutMs,
    // Keepalive only catches a connection that died while idle (e.g. during a long server-side
    // hash). Its replies queue behind file data on slow links, so it is lenient; stalls during
    // transfers are caught by the session's own watchdog (see Liveness).
    keepaliveInterval: 30_000,
    keepaliveCountMax: 10,
    hostVerifier: makeHostVerifier(endpoint.pins, seen, probe ? undefined : options.gate),
    algorithms: { serverHostKey: algorithmsFor(keyTypes) as ssh2.ServerHostKeyAlgorithm[] },
    debug: options.debug
  }
}

/** `handler`, asked only once `login` said yes; no method at all (nothing sent) otherwise. */
function afterLogin(
  login: Promise<boolean> | undefined,
  handler: ssh2.AuthHandlerMiddleware
): ssh2.AuthHandlerMiddleware {
  if (!login) return handler
  return (methodsLeft, partialSuccess, next) => {
    const none = (): void => (next as (method: ssh2.AuthenticationType | false) => void)(false)
    login.then(
      ok => (ok ? handler(methodsLeft, partialSuccess, next) : none()),
      () => none()
    )
  }
}

/** A channel from the bastion to the server; the bastion must allow TCP forwarding. */
function forward(jump: ssh2.Client, endpoint: Endpoint, timeoutMs: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const target = formatHostPort(endpoint.host, endpoint.port)
    const timer = setTimeout(() => {
      reject(
        new ConnectionError(
          `Timed out after ${timeoutMs / 1000} s waiting for the jump host to reach ${target}.`,
          false
        )
      )
    }, timeoutMs)
    timer.unref()
    const via = endpoint.jump ? formatHostPort(endpoint.jump.host, endpoint.jump.port) : ''
    const lost = (err: Error) =>
      new ConnectionError(
        `The connection to the jump host ${via} was lost while it reached ${target}.`,
        true,
        { cause: err }
      )
    const opened = (err: Error | undefined, stream: Duplex) => {
      clearTimeout(timer)
      if (!err) return resolve(stream)
      // ssh2 says this to channels still opening when the bastion's own connection closes.
      if (/No response from server/i.test(err.message)) return reject(lost(err))
      reject(
        new ConnectionError(
          `The jump host ${via} could not open a connection to ` +
            `${formatHostPort(endpoint.host, endpoint.port)}: ${err.message}. Check that it allows ` +
            'TCP forwarding (AllowTcpForwarding) and can reach that server.',
          false,
          { cause: err }
        )
      )
    }
    try {
      jump.forwardOut('127.0.0.1', 0, endpoint.host, endpoint.port, opened)
    } catch (err) {
      clearTimeout(timer)
      reject(lost(err as Error))
    }
  })
}

/**
 * Whether the server still answers on this connection: one keepalive request and its reply,
 * sent the way ssh2's own keepalive sends it. Tells a server that chose not to answer something
 * (it is there) from a link that went dead.
 */
export function stillAnswers(client: ssh2.Client, timeoutMs: number): Promise<boolean> {
  return new Promise(resolve => {
    const callbacks: unknown = Reflect.get(client, '_callbacks')
    const protocol: unknown = Reflect.get(client, '_protocol')
    const ping: unknown = protocol && Reflect.get(protocol as object, 'ping')
    const sock: unknown = Reflect.get(client, '_sock')
    if (!Array.isArray(callbacks) || typeof ping !== 'function') return resolve(true)
    if (!(sock instanceof Writable) || !sock.writable) return resolve(false)
    let settled = false
    const done = (answered: boolean): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      client.off('close', onClose)
      resolve(answered)
    }
    const onClose = (): void => done(false)
    const timer = setTimeout(() => done(false), timeoutMs)
    timer.unref()
    client.once('close', onClose)
    // A reply, success or failure, proves the server is there; ssh2 hands an Error to callbacks
    // still waiting when the connection closes.
    callbacks.push((failed: unknown) => done(!(failed instanceof Error)))
    try {
      ;(ping as () => void).call(protocol)
    } catch {
      done(false)
    }
  })
}

/**
 * Ends a connection and the bastion it runs through. Whatever the action waited for has been
 * answered when it ends a connection, so the server's own close is a round trip the process need
 * not wait for before it exits: once the goodbye and our half-close are with the kernel, the
 * socket is let go.
 */
export function endConnection(connection: VerifiedConnection): void {
  connection.client.end()
  connection.jump?.client.end()
  for (const hop of [connection, connection.jump]) if (hop) releaseOnceSent(hop.client)
}

/** A TCP socket only: behind a bastion, the inner connection's socket is one of its channels. */
function releaseOnceSent(client: ssh2.Client): void {
  const sock: unknown = Reflect.get(client, '_sock')
  if (!(sock instanceof Socket) || sock.destroyed) return
  if (sock.writableFinished) sock.destroy()
  else sock.once('finish', () => sock.destroy())
}
