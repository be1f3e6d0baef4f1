import * as path from 'node:path'
import { ListingBudget, type Folder, type ListedInput } from './listing-limits.js'
import { walkWhileLookingUp, type RemoteLister } from './remote-lister.js'
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

/**
 * Lists everything below `root`; a missing root is an empty tree. The listing stops with an
 * error at LISTING_LIMITS (naming `input`, what the user can narrow).
 */
export async function listRemoteTree(
  lister: RemoteLister,
  root: string,
  input: ListedInput = 'target'
): Promise<RemoteTree> {
  const tree: RemoteTree = { files: new Map(), dirs: [], others: [] }
  const { walked } = await walkWhileLookingUp(lister, root, () =>
    new ListingBudget(input)
      .walk(lister, { dir: root, rel: '', depth: 0 }, (folder, entries) => {
        const subdirs: Folder[] = []
        for (const entry of entries) {
          if (unsafeNameReason(entry.name)) continue
          const child = folder.rel ? `${folder.rel}/${entry.name}` : entry.name
          if (entry.isSymbolicLink || (!entry.isDirectory && !entry.isFile)) tree.others.push(child)
          else if (entry.isDirectory) {
            tree.dirs.push(child)
            const dir = path.posix.join(root, child)
            subdirs.push({ dir, rel: child, depth: folder.depth + 1 })
          } else tree.files.set(child, { size: entry.size, mtime: entry.mtime })
        }
        return subdirs
      })
      .then(() => tree)
  )
  return walked ?? { files: new Map(), dirs: [], others: [] }
}
