import * as path from 'node:path'

/** What the planner needs from a server; the engine's SFTP channel provides it. */
export interface RemoteLister {
  stat(path: string): Promise<{
    size: number
    mtime: number
    atime?: number
    mode?: number
    isDirectory: boolean
    isFile: boolean
  }>
  /**
   * Lists a folder. `onBatch` sees each batch of names as it arrives, before it is kept, and
   * throws to stop a listing that never ends.
   */
  readdir(path: string, onBatch?: (names: readonly string[]) => void): Promise<RemoteListing[]>
}

export interface RemoteListing {
  name: string
  size: number
  mtime: number
  atime?: number
  mode?: number
  isDirectory: boolean
  isFile: boolean
  isSymbolicLink: boolean
}

/** SFTP does not expand `~`; paths relative to the login directory mean the same thing. */
export function normalizeRemoteDir(value: string): string {
  let dir = value.replace(/\\/g, '/')
  if (dir === '~') return '.'
  if (dir.startsWith('~/')) dir = dir.slice(2)
  const normalized = path.posix.normalize(dir)
  return normalized.length > 1 ? normalized.replace(/\/+$/, '') : normalized
}
