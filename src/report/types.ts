import { HostKeyError } from '../errors.js'

/** What happened to one file. */
export type FileStatus = 'transferred' | 'failed' | 'refused' | 'skipped' | 'deleted' | 'planned'

/** One row of the manifest. */
export interface FileResult {
  /** Where the file came from: a local path for uploads, a remote path otherwise. */
  source: string
  /** Where it went: the final name, never the temporary one. */
  target: string
  /** Bytes. */
  size: number
  status: FileStatus
  /** Why it failed or was refused. */
  error?: string
  /** The server it went to or came from (host:port), when several are involved. */
  server?: string
  /** SHA-256 (hex) of the content, when hashing was on. */
  sha256?: string
  /** For a dry run: what the run would do to this file. */
  plan?: 'create' | 'replace' | 'delete' | 'skip'
}

/** A server this run talked to and the key it proved it holds. */
export interface HostReport {
  role: 'server' | 'source' | 'target' | 'jump'
  /** host:port. */
  address: string
  keyType: string
  /** SHA256 fingerprint of the host key that matched a pin; '' when never verified. */
  fingerprint: string
  pinLabel: string
  /** The bastion the connection ran through, host:port and fingerprint. */
  via?: string
  /** Why this server failed as a whole (fan-out goes on without it). */
  error?: string
  /** Refused for its host key: the keys it presented (none when it had no pinned type). */
  presented?: Array<{ keyType: string; fingerprint: string; revoked: boolean }>
}

/** The file `select: newest` chose. */
export interface Selection {
  path: string
  size: number
  /** Modification time on the server, seconds since the epoch. */
  mtime: number
}

/** What one run did, for outputs, the manifest and the job summary. */
export interface RunReport {
  direction: string
  hosts: HostReport[]
  files: FileResult[]
  selected?: Selection
  /** With `release: true`: the directory this deploy went into. */
  releasePath?: string
  /** With `rollback: true`: the release `current` left and the one it points at now. */
  rollback?: { from: string; to: string }
  /** What `preserve` and `chmod` did to the files and folders written, for the summary. */
  attributes?: string
  /** With `dry-run: true`: nothing was changed. */
  dryRun?: boolean
  /** The step ended with an error after a server was reached: the summary must not say done. */
  failed?: boolean
  durationMs: number
}

/** The report's row for a server refused for its host key; undefined for any other error. */
export function refusedHostReport(err: unknown, direction: string): HostReport | undefined {
  if (!(err instanceof HostKeyError) || !err.refused) return undefined
  const { address, hostInput, presented } = err.refused
  const role = hostInput.endsWith('jump-host')
    ? 'jump'
    : hostInput === 'target-host'
      ? 'target'
      : direction === 'relay'
        ? 'source'
        : 'server'
  return {
    role,
    address,
    keyType: '',
    fingerprint: '',
    pinLabel: '',
    error: err.message,
    presented
  }
}

export function fileResult(
  source: string,
  target: string,
  size: number,
  status: FileStatus,
  error?: string
): FileResult {
  return error ? { source, target, size, status, error } : { source, target, size, status }
}
