import type { Duplex } from 'node:stream'
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
import { connectConfig } from './client-config.js'
import { forward } from './forward.js'
import { keyTypePlan, type Presented } from './host-key.js'
import type { ConnectOptions, VerifiedConnection } from './options.js'
import { signAtOnce } from './sign-at-once.js'
import { withRetries } from './retry-policy.js'
import { coalesceWrites } from './write-batching.js'

export type { ConnectOptions, VerifiedConnection } from './options.js'

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
