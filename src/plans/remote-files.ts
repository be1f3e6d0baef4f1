import * as path from 'node:path'
import picomatch from 'picomatch'
import { absentUnlessLost, InputError } from '../errors.js'
import type { SourceSpec } from '../inputs/parse.js'
import { normalizeRemoteDir } from '../inputs/settings.js'
import { allExcluded, makeSourceExcluder, pathPrefixes, scanPattern } from './patterns.js'
import { printableName, unsafeNameReason } from './safe-names.js'

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
  readdir(path: string): Promise<RemoteListing[]>
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
  for (const pattern of spec.include) {
    const matches = await expandRemote(pattern, lister, refused)
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

async function expandRemote(
  pattern: string,
  lister: RemoteLister,
  refused: Refusal[]
): Promise<RemoteFile[]> {
  const { base, glob } = scanPattern(pattern)
  const root = normalizeRemoteDir(base || '.')
  if (!glob) {
    const info = await lister.stat(root).catch(absentUnlessLost)
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
    return info.isDirectory ? walkRemote(lister, root, '', Infinity, refused) : []
  }
  const isMatch = picomatch(glob, { dot: true })
  const depth = glob.includes('**') ? Infinity : glob.split('/').length
  const all =
    (await walkRemote(lister, root, '', depth, refused, isMatch).catch(absentUnlessLost)) ?? []
  return all.filter(f => pathPrefixes(f.rel).some(p => isMatch(p)))
}

async function walkRemote(
  lister: RemoteLister,
  dir: string,
  prefix: string,
  depth: number,
  refused: Refusal[],
  isMatch: (rel: string) => boolean = () => true
): Promise<RemoteFile[]> {
  const found: RemoteFile[] = []
  const subdirs: Array<{ path: string; rel: string }> = []
  for (const entry of await lister.readdir(dir)) {
    if (entry.name === '.' || entry.name === '..') continue
    const shown = `${dir.replace(/\/+$/, '')}/${entry.name}`
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name
    // Above the glob's last level any entry may lead to a match (a link may stand for a folder).
    const wanted = depth > 1 || isMatch(rel) || pathPrefixes(rel).some(p => isMatch(p))
    const reason = unsafeNameReason(entry.name)
    if (reason) {
      if (wanted) refused.push({ path: shown, reason, rel })
      continue
    }
    const full = path.posix.join(dir, entry.name)
    if (entry.isSymbolicLink) {
      if (wanted) refused.push({ path: full, reason: 'symbolic links are not followed', rel })
    } else if (entry.isDirectory) {
      subdirs.push({ path: full, rel })
    } else if (entry.isFile) {
      found.push({ path: full, rel, size: entry.size, mtime: entry.mtime, ...kept(entry) })
    }
  }
  // Past the glob's depth, only a directory the glob names is entered (its whole contents count).
  const nested = await Promise.all(
    subdirs
      .filter(d => depth > 1 || isMatch(d.rel))
      .map(d =>
        depth > 1
          ? walkRemote(lister, d.path, d.rel, depth - 1, refused, isMatch)
          : walkRemote(lister, d.path, d.rel, Infinity, refused)
      )
  )
  for (const files of nested) found.push(...files)
  return found
}

/** The attributes `preserve` may carry over, where the server reported them. */
function kept(info: { atime?: number; mode?: number }): { atime?: number; mode?: number } {
  return {
    ...(info.atime !== undefined ? { atime: info.atime } : {}),
    ...(info.mode !== undefined ? { mode: info.mode } : {})
  }
}
