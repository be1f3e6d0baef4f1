import * as path from 'node:path'
import { absentUnlessLost } from '../errors.js'
import type { RemoteLister } from './remote-files.js'
import { unsafeNameReason } from './safe-names.js'

/** What an upload target already holds on the server. */
export interface RemoteTree {
  /** Regular files by path below the target. */
  files: Map<string, { size: number; mtime: number }>
  /** Directories below the target, parents before children. */
  dirs: string[]
  /** Symbolic links and other entries: never deleted, never descended into. */
  others: string[]
}

/** Lists everything below `root`, level by level in parallel; a missing root is an empty tree. */
export async function listRemoteTree(lister: RemoteLister, root: string): Promise<RemoteTree> {
  const tree: RemoteTree = { files: new Map(), dirs: [], others: [] }
  const exists = await lister.stat(root).catch(absentUnlessLost)
  if (!exists?.isDirectory) return tree
  let level: string[] = ['']
  while (level.length > 0) {
    const listed = await Promise.all(level.map(rel => listOne(lister, root, rel, tree)))
    level = listed.flat()
  }
  return tree
}

async function listOne(
  lister: RemoteLister,
  root: string,
  rel: string,
  tree: RemoteTree
): Promise<string[]> {
  const subdirs: string[] = []
  for (const entry of await lister.readdir(rel ? path.posix.join(root, rel) : root)) {
    if (unsafeNameReason(entry.name)) continue
    const child = rel ? `${rel}/${entry.name}` : entry.name
    if (entry.isSymbolicLink || (!entry.isDirectory && !entry.isFile)) tree.others.push(child)
    else if (entry.isDirectory) {
      tree.dirs.push(child)
      subdirs.push(child)
    } else tree.files.set(child, { size: entry.size, mtime: entry.mtime })
  }
  return subdirs
}
