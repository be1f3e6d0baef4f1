import type ssh2 from 'ssh2'

export interface Faults {
  /**
   * Destroy the TCP connection once more than this many file-data bytes would have been written
   * (WRITE) or read (READ), counted per connection, reads and writes together. The request that
   * would cross the limit triggers the drop: a WRITE first persists the bytes up to the limit (so
   * a sequential upload leaves exactly this many bytes on disk), a READ sends nothing. Neither is
   * answered. 0 drops on the first data byte.
   */
  dropAfterBytes?: number
  /**
   * Like dropAfterBytes, but instead of dropping the connection the server stops answering every
   * SFTP request on that connection from then on (the crossing request included). The TCP and SSH
   * layers stay alive; other connections are unaffected.
   */
  stallAfterBytes?: number
  /** Report sizes of regular files in STAT/LSTAT/FSTAT/READDIR attrs as real size + this delta (clamped at 0). */
  sizeDelta?: number
  /**
   * Extra names injected into the first READDIR reply of every listing of the root dir, e.g.
   * '../../evil', 'a/b', '..', '.', 'x\\y', '/etc/passwd'. Each is listed as a regular file of 5
   * bytes (mode 0644); nothing backs it on disk.
   */
  hostileNames?: string[]
  /**
   * Refuse a session channel open while this many session channels are already open on the
   * connection (like OpenSSH's MaxSessions; closing one frees a slot). 0 refuses every session.
   */
  maxChannels?: number
  /** Accept new TCP connections but never send the SSH banner (nor anything else). */
  silent?: boolean
  /**
   * Log in and open session channels as usual, but never answer the SFTP subsystem request
   * (neither accept nor refuse it), as a server whose sftp-server hangs would. SSH itself,
   * keepalives included, keeps answering.
   */
  silentSftp?: boolean
  /**
   * Once a client has logged in, re-key after this many milliseconds presenting `presentKey`
   * (a public key line of the same type), as a man in the middle taking over a live session would.
   * The signature is still made with the server's own key.
   */
  rekeySwap?: { afterMs: number; presentKey: string }
  /**
   * Answer every new connection with the SSH banner and then, before key exchange (so before
   * any host key is shown), a DISCONNECT (protocol error) carrying this text, then close.
   */
  disconnect?: string
  /** Send this text in every failure STATUS reply instead of the usual message. */
  statusMessage?: string
}

export type EmbeddedHostKeyType = 'ed25519' | 'ecdsa' | 'rsa'

export interface EmbeddedServerOptions {
  /** Directory to serve. Default: a fresh temp dir, removed by stop(). A given dir is left alone. */
  root?: string
  /** The only user name accepted. Default 'tester'. */
  username?: string
  /** Enables password authentication with this password when set. */
  password?: string
  /**
   * Offers keyboard-interactive only (no password method): one round with these prompts,
   * accepted when the first answer is `password`. Answers received: keyboardAnswers().
   */
  keyboardPrompts?: ssh2.Prompt[]
  /** OpenSSH public key line ('ssh-ed25519 AAAA... comment') accepted for publickey auth. */
  authorizedKey?: string
  /** Host key algorithm; a fresh key is generated with ssh-keygen. Default 'ed25519'. */
  hostKeyType?: EmbeddedHostKeyType
  /**
   * Software part of the server ident (sent as 'SSH-2.0-' + ident). Default 'EmbeddedSftp_1.0',
   * which clients do not take for OpenSSH. An ident starting with 'OpenSSH' makes the server also
   * read SYMLINK arguments in OpenSSH's (swapped) order, as clients will send them that way.
   */
  ident?: string
  /** Initial faults (see setFaults). Default: none. */
  faults?: Faults
  /**
   * Impostor mode: present this public host key line (someone else's, same type) while signing
   * with the server's own key, as an attacker who copied a public key would. A client that checks
   * the key-exchange signature must refuse.
   */
  presentKey?: string
}

export interface EmbeddedHostKey {
  /** Key type as in the .pub file: 'ssh-ed25519', 'ecdsa-sha2-nistp256' or 'ssh-rsa'. */
  type: string
  /** Contents of the .pub file (type, base64 blob, comment). */
  publicLine: string
  /** The decoded public key blob. */
  blob: Buffer
  /** 'SHA256:' + unpadded base64 of sha256(blob), as printed by `ssh-keygen -lf`. */
  sha256: string
}

export interface EmbeddedServer {
  host: '127.0.0.1'
  port: number
  /** The served directory (real path, symlinks resolved). */
  root: string
  username: string
  hostKey: EmbeddedHostKey
  /** Authentication requests received so far, over all connections (any method, 'none' included). */
  authAttempts(): number
  /** TCP connections accepted so far (silent ones included). */
  connections(): number
  /** Every keyboard-interactive answer set a client sent (with keyboardPrompts). */
  keyboardAnswers(): string[][]
  /** How often dropAfterBytes and stallAfterBytes have fired so far. */
  faultsTriggered(): { drops: number; stalls: number }
  /**
   * Replace the whole fault set. Applies to new connections and to later requests on existing
   * ones; per-connection byte counters keep running (they are not reset).
   */
  setFaults(faults: Faults): void
  /** Stop listening, destroy every connection, close open files, remove temp dirs. Idempotent. */
  stop(): Promise<void>
}
