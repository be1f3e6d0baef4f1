import * as path from 'node:path'
import { absentUnlessLost } from '../errors.js'

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

export type RemoteStat = Awaited<ReturnType<RemoteLister['stat']>>

/**
 * Looks `root` up and, at the same time, walks it as the folder most named paths are: the walk's
 * first listing goes out with the stat, not a round trip after it. The walk counts against its
 * limits as any other. When `root` turns out missing or no folder, what the walk found or how it
 * failed means nothing and is dropped; a lost connection fails the lookup either way.
 */
export async function walkWhileLookingUp<T>(
  lister: RemoteLister,
  root: string,
  walk: () => Promise<T>
): Promise<{ info: RemoteStat | undefined; walked?: T }> {
  const walking = walk().then(
    value => ({ value }),
    (err: unknown) => ({ err })
  )
  const info = await lister.stat(root).catch(absentUnlessLost)
  if (!info?.isDirectory) return { info }
  const outcome = await walking
  if ('err' in outcome) throw outcome.err
  return { info, walked: outcome.value }
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
