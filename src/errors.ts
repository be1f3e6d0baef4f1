/**
 * Errors thrown below `run()`. Each carries a message written for the person reading the
 * workflow log: what went wrong, and what to do about it. `run()` turns them into exactly one
 * `::error title=...::` line; nothing else fails the step.
 */
export class ActionError extends Error {
  /** The annotation's title (`core.error`'s `title`), e.g. "Host key mismatch". */
  readonly title: string

  constructor(title: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
    this.title = title
  }
}

/** An input is missing, malformed or contradictory. Raised before any connection is made. */
export class InputError extends ActionError {
  /** The kebab-case input name, as written in the workflow. */
  readonly input: string

  constructor(input: string, message: string, options?: { cause?: unknown }) {
    super(`Invalid input '${input}'`, `Input '${input}': ${message}`, options)
    this.input = input
  }
}

/** A server refused for its host key, and the keys it presented: the job summary names them. */
export interface RefusedHost {
  /** host:port. */
  address: string
  /** The input naming it (`host`, `target-host`, `jump-host`, ...). */
  hostInput: string
  /** Empty when the server had no key of a pinned type. */
  presented: Array<{ keyType: string; fingerprint: string; revoked: boolean }>
}

/** The server's host key matched no pin, or matched a revoked one. Never retried. */
export class HostKeyError extends ActionError {
  /** Set when the server is known: operators rotating keys read what it presented. */
  readonly refused?: RefusedHost

  constructor(message: string, refused?: RefusedHost) {
    super('Host key mismatch', message)
    if (refused) this.refused = refused
  }
}

/** The server rejected every credential offered. Never retried. */
export class AuthenticationError extends ActionError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('Authentication failed', message, options)
  }
}

/**
 * The network or the server failed: refused, unreachable, timed out, reset. `transient` says
 * whether connecting again at once could help (a reset, or a close before login, as a server
 * throttling logins does). Refusals, timeouts and unknown hosts are configuration mistakes on a
 * first connection, so they fail at once; after a drop mid-transfer every one of them is retried.
 */
export class ConnectionError extends ActionError {
  readonly transient: boolean

  constructor(message: string, transient: boolean, options?: { cause?: unknown }) {
    super('Connection failed', message, options)
    this.transient = transient
  }
}

/**
 * One of the extra connections a big file may spread over behind a jump host was lost. Only its
 * lanes go: the session's own connection still works, and the file goes on over the rest.
 */
export class ExtraConnectionLost extends ConnectionError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, true, options)
  }
}

/**
 * For a `.catch` that reads a failed lookup as "not there": a lost connection is not "not
 * there", and must reach the retry loop instead of deciding anything.
 */
export function absentUnlessLost(err: unknown): undefined {
  if (err instanceof ConnectionError) throw err
  return undefined
}

/** A file could not be moved, or arrived different from what was sent. */
export class TransferError extends ActionError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('Transfer failed', message, options)
  }
}
