import * as path from 'node:path'
import picomatch from 'picomatch'
import { absentUnlessLost, InputError } from '../errors.js'
import { ListingBudget, ListingLimitError, type Folder } from './listing-limits.js'
import {
  allExcluded,
  makeSourceExcluder,
  pathPrefixes,
  scanPattern,
  type SourceSpec
} from './patterns.js'
import { normalizeRemoteDir, walkWhileLookingUp, type RemoteLister } from './remote-lister.js'
import { printableName, unsafeNameReason } from './safe-names.js'

export type { RemoteLister, RemoteListing } from './remote-lister.js'

/** A remote file chosen for download. */
export interface RemoteFile {
  /** Full remote path (POSIX). */
  path: string
  /** Path below the local target, POSIX separators; every part checked safe. */
  rel: string
  size: number
  /** Modification time, seconds since the epoch, as the server reports it. */
  mtime: number
  /** Access time and mode bits, for `preserve`, where the server reports them. */
  atime?: number
  mode?: number
}

/** Names the server listed that were refused, for the report. */
export interface Refusal {
  path: string
  reason: string
  /** Where it would have landed below the target, for the `!` test. */
  rel: string
}

export interface RemoteListResult {
  files: RemoteFile[]
  refused: Refusal[]
}

/**
 * Expands `source` on the server by listing (SFTP has no server-side glob). Every listed name is
 * checked before use; symbolic links in a listing are neither followed nor recreated.
 */
export async function listRemoteFiles(
  spec: SourceSpec,
  lister: RemoteLister,
  warn: (message: string) => void
): Promise<RemoteListResult> {
  const excluded = makeSourceExcluder(spec.exclude)
  const refused: Refusal[] = []
  const byRel = new Map<string, RemoteFile>()
  const budget = new ListingBudget('source')
  for (const pattern of spec.include) {
    const matches = await expandRemote(pattern, { lister, refused, budget })
    if (matches.length === 0) {
      throw new InputError('source', `'${pattern}' matches no file on the server.`)
    }
    const kept = matches.filter(file => !excluded(file.rel, file.path))
    if (kept.length === 0) throw allExcluded(pattern, matches.length)
    for (const file of kept) {
      const existing = byRel.get(file.rel)
      if (existing && existing.path !== file.path) {
        throw new InputError(
          'source',
          `two remote files land on the same local path '${printableName(file.rel)}' ` +
            `(${printableName(existing.path)} and ${printableName(file.path)}). ` +
            'Exclude one, or download them in separate steps.'
        )
      }
      byRel.set(file.rel, file)
    }
  }
  // What the user excluded or never asked for is not worth a warning, however odd its name.
  const reported = refused.filter(r => !excluded(r.rel, r.path))
  for (const r of reported) warn(`Refused remote entry '${printableName(r.path)}': ${r.reason}.`)
  const files = [...byRel.values()].sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0))
  return { files, refused: reported }
}

/** What every folder of one listing shares. */
interface Walk {
  lister: RemoteLister
  refused: Refusal[]
  budget: ListingBudget
}

async function expandRemote(pattern: string, walk: Walk): Promise<RemoteFile[]> {
  const { lister, refused } = walk
  const { base, glob } = scanPattern(pattern)
  const root = normalizeRemoteDir(base || '.')
  if (!glob) {
    const found: RemoteFile[] = []
    const { info } = await walkWhileLookingUp(lister, root, () =>
      walkRemote(walk, found, root, Infinity)
    )
    if (!info) return []
    if (info.isFile) {
      // The name it lands under comes from the user's path, but `..` or `/` must not slip through
      // as one (a server may call anything a file).
      const rel = path.posix.basename(root)
      const reason = unsafeNameReason(rel)
      if (reason) {
        refused.push({ path: root, reason, rel })
        return []
      }
      return [{ path: root, rel, size: info.size, mtime: info.mtime, ...kept(info) }]
    }
    if (!info.isDirectory) return []
    return found
  }
  const isMatch = picomatch(glob, { dot: true })
  const depth = glob.includes('**') ? Infinity : glob.split('/').length
  const all: RemoteFile[] = []
  // A base folder that cannot be listed matches nothing; a listing cut off at a limit fails.
  const listed = await walkRemote(walk, all, root, depth, isMatch).then(
    () => true,
    (err: unknown) => {
      if (err instanceof ListingLimitError) throw err
      absentUnlessLost(err)
      return false
    }
  )
  return listed ? all.filter(f => pathPrefixes(f.rel).some(p => isMatch(p))) : []
}

/** A folder of a remote walk: `levels` of the glob are left (Infinity: all of it counts). */
interface GlobFolder extends Folder {
  levels: number
  isMatch: (rel: string) => boolean
}

const everything = (): boolean => true

/** Adds the files below `root` to `found` (one array for the whole walk: no copies per level). */
function walkRemote(
  walk: Walk,
  found: RemoteFile[],
  root: string,
  levels: number,
  isMatch: (rel: string) => boolean = everything
): Promise<void> {
  const { lister, refused, budget } = walk
  const first: GlobFolder = { dir: root, rel: '', depth: 0, levels, isMatch }
  return budget.walk(lister, first, (folder, entries) => {
    const { dir, rel: prefix, levels } = folder
    const subdirs: GlobFolder[] = []
    // Names are single safe parts by the time they are joined, so plain concatenation is exact
    // (path.join builds each path from many pieces: twice the memory per listed file).
    const base = dir === '.' ? '' : dir.endsWith('/') ? dir : `${dir}/`
    for (const entry of entries) {
      if (entry.name === '.' || entry.name === '..') continue
      const rel = prefix ? `${prefix}/${entry.name}` : entry.name
      // Above the glob's last level any entry may lead to a match (a link may stand for a folder).
      const wanted =
        levels > 1 || folder.isMatch(rel) || pathPrefixes(rel).some(p => folder.isMatch(p))
      const reason = unsafeNameReason(entry.name)
      if (reason) {
        if (wanted) refused.push({ path: `${dir.replace(/\/+$/, '')}/${entry.name}`, reason, rel })
        continue
      }
      const full = base + entry.name
      if (entry.isSymbolicLink) {
        if (wanted) refused.push({ path: full, reason: 'symbolic links are not followed', rel })
      } else if (entry.isDirectory) {
        // Past the glob's depth, only a directory the glob names is entered (its whole contents count).
        const depth = folder.depth + 1
        if (levels > 1) subdirs.push({ ...folder, dir: full, rel, depth, levels: levels - 1 })
        else if (folder.isMatch(rel))
          subdirs.push({ dir: full, rel, depth, levels: Infinity, isMatch: everything })
      } else if (entry.isFile) {
        const { size, mtime, atime, mode } = entry
        // One object per file (the listing keeps every one): no spread of kept()'s where the
        // server gave both, as OpenSSH does.
        found.push(
          atime !== undefined && mode !== undefined
            ? { path: full, rel, size, mtime, atime, mode }
            : { path: full, rel, size, mtime, ...kept(entry) }
        )
      }
    }
    return subdirs
  })
}

/** The attributes `preserve` may carry over, where the server reported them. */
function kept(info: { atime?: number; mode?: number }): { atime?: number; mode?: number } {
  return {
    ...(info.atime !== undefined ? { atime: info.atime } : {}),
    ...(info.mode !== undefined ? { mode: info.mode } : {})
  }
}
