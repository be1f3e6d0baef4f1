import type { RemoteTree } from './remote-tree.js'

/** Name of the state file kept in an upload target when `sync: changed` is on. */
export const STATE_FILE = '.pinned-sftp-state.json'

/** What the last deploys into a target left there, by path below the target. */
export interface SyncState {
  files: Map<string, StateEntry>
}

export interface StateEntry {
  /** SHA-256 (hex) of the content that was uploaded. */
  sha256: string
  size: number
  /** The server's modification time right after the upload: a later edit changes it. */
  mtime: number
}

export interface LocalEntry {
  rel: string
  size: number
  /** SHA-256 (hex), required for `sync: changed`. */
  sha256?: string
}

export type OpKind = 'create' | 'replace' | 'skip' | 'delete'

export interface Op {
  kind: OpKind
  rel: string
  size: number
}

export interface SyncOptions {
  /** Skip files whose content the state says is already there. */
  sync: boolean
  /** Remove remote files that are not in the source. */
  delete: boolean
  /** `!` patterns from `source`: matching remote files are left alone. */
  isExcluded: (rel: string) => boolean
  /** Names the action itself keeps in the target (temporary files), never deleted here. */
  isOwnFile: (rel: string) => boolean
}

/** What the target and the state hold for each source file, by the file's index. */
export interface Found {
  there: Array<RemoteFile | undefined>
  recorded: Array<StateEntry | undefined>
  /** How many of the files the state records. */
  inState: number
}

type RemoteFile = RemoteTree['files'] extends Map<string, infer F> ? F : never

/**
 * Looks each file up in the listing and the state, once: done while the hashes are still
 * coming, it leaves the plan only comparisons once they are there.
 */
export function lookUp(
  files: ReadonlyArray<{ rel: string }>,
  remote: RemoteTree,
  state: SyncState | undefined
): Found {
  const there: Found['there'] = new Array(files.length)
  const recorded: Found['recorded'] = new Array(files.length)
  let inState = 0
  for (let i = 0; i < files.length; i++) {
    const { rel } = files[i]
    there[i] = remote.files.get(rel)
    const entry = state?.files.get(rel)
    recorded[i] = entry
    if (entry) inState++
  }
  return { there, recorded, inState }
}

/**
 * Decides, file by file, what an upload does to the target. A file is skipped only when the state
 * says its content is there AND the server still shows the size and modification time recorded
 * then, so a file edited or removed on the server behind the action's back is put right.
 * `found` must come from lookUp() on the same files, listing and state.
 */
export function planSync(
  local: LocalEntry[],
  remote: RemoteTree,
  state: SyncState | undefined,
  options: SyncOptions,
  found: Found = lookUp(local, remote, state)
): Op[] {
  const ops: Op[] = new Array(local.length)
  for (let i = 0; i < local.length; i++) {
    const file = local[i]
    ops[i] = {
      kind: decide(file, found.there[i], found.recorded[i], options.sync),
      rel: file.rel,
      size: file.size
    }
  }
  if (!options.delete) return ops
  const wanted = new Set(local.map(f => f.rel))
  for (const [rel, info] of remote.files) {
    if (wanted.has(rel) || rel === STATE_FILE || options.isOwnFile(rel) || options.isExcluded(rel))
      continue
    ops.push({ kind: 'delete', rel, size: info.size })
  }
  return ops
}

function decide(
  file: LocalEntry,
  there: RemoteFile | undefined,
  recorded: StateEntry | undefined,
  sync: boolean
): OpKind {
  if (!there) return 'create'
  const unchanged =
    sync &&
    recorded !== undefined &&
    file.sha256 !== undefined &&
    recorded.sha256 === file.sha256 &&
    recorded.size === file.size &&
    there.size === file.size &&
    there.mtime === recorded.mtime
  return unchanged ? 'skip' : 'replace'
}

/**
 * Directories left empty once `deleted` files are gone, deepest first, never `keep` ones (those
 * that still hold a source file) nor excluded ones.
 */
export function emptiedDirs(
  remote: RemoteTree,
  deleted: string[],
  kept: string[],
  isExcluded: (rel: string) => boolean
): string[] {
  const occupied = new Set<string>()
  const mark = (rel: string): void => {
    const parts = rel.split('/')
    for (let i = 1; i < parts.length; i++) occupied.add(parts.slice(0, i).join('/'))
  }
  const gone = new Set(deleted)
  for (const rel of remote.files.keys()) if (!gone.has(rel)) mark(rel)
  for (const rel of remote.others) mark(rel)
  for (const rel of kept) mark(rel)
  // Only directories this run emptied: an empty uploads/ or cache/ the app relies on stays.
  const aboveDeleted = new Set<string>()
  for (const rel of deleted) {
    const parts = rel.split('/')
    for (let i = 1; i < parts.length; i++) aboveDeleted.add(parts.slice(0, i).join('/'))
  }
  return remote.dirs
    .filter(d => aboveDeleted.has(d) && !occupied.has(d) && !isExcluded(d))
    .sort((a, b) => b.split('/').length - a.split('/').length)
}
