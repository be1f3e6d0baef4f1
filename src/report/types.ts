/** What happened to one file. */
export type FileStatus = 'transferred' | 'failed' | 'refused'

/** One row of the manifest. */
export interface FileResult {
  /** Where the file came from: a local path for uploads, a remote path for downloads. */
  source: string
  /** Where it went: the final name, never the temporary one. */
  target: string
  /** Bytes. */
  size: number
  status: FileStatus
  /** Why it failed or was refused. */
  error?: string
}

/** What one run did, for outputs, the manifest and the job summary. */
export interface RunReport {
  direction: string
  /** host:port of the server. */
  server: string
  keyType: string
  /** SHA256 fingerprint of the host key that matched a pin. */
  fingerprint: string
  /** Which pin matched, as shown to users. */
  pinLabel: string
  files: FileResult[]
  durationMs: number
}
