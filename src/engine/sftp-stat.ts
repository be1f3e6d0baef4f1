import type ssh2 from 'ssh2'

/** SFTP status codes this code reacts to (draft-ietf-secsh-filexfer-02). */
export const SFTP_STATUS = { EOF: 1, NO_SUCH_FILE: 2, PERMISSION_DENIED: 3, FAILURE: 4 } as const

/** What this project keeps of an SFTP stat or listing entry (sftp.ts). */
export interface RemoteStat {
  size: number
  mtime: number
  /** Access time, seconds since the epoch (0 when the server does not say). */
  atime: number
  mode: number
  isDirectory: boolean
  isFile: boolean
  isSymbolicLink: boolean
}

export interface RemoteEntry extends RemoteStat {
  name: string
}

/** As toStat, with the name: one object per listed entry, not a stat spread into another. */
export function toEntry(name: string, attrs: ssh2.Attributes): RemoteEntry {
  const mode = attrs.mode ?? 0
  const type = mode & 0o170000
  return {
    name,
    size: attrs.size ?? 0,
    mtime: attrs.mtime ?? 0,
    atime: attrs.atime ?? 0,
    mode,
    isDirectory: type === 0o040000,
    isFile: type === 0o100000,
    isSymbolicLink: type === 0o120000
  }
}

export function toStat(attrs: ssh2.Stats | ssh2.Attributes): RemoteStat {
  const mode = attrs.mode ?? 0
  const type = mode & 0o170000
  return {
    size: attrs.size ?? 0,
    mtime: attrs.mtime ?? 0,
    atime: attrs.atime ?? 0,
    mode,
    isDirectory: type === 0o040000,
    isFile: type === 0o100000,
    isSymbolicLink: type === 0o120000
  }
}
