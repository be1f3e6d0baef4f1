import type ssh2 from 'ssh2'

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
