import type { LocalEntry, Op, StateEntry } from './sync.js'
import type { RemoteTree } from './remote-tree.js'

/**
 * `sync: checksum` trusts no state: every file the server has at the local size is hashed there.
 * Files of another size are sent without hashing; new files are created.
 */
export function checksumCandidates(ops: Op[], local: LocalEntry[], remote: RemoteTree): string[] {
  const hashed = new Map(local.map(f => [f.rel, f.sha256]))
  return ops
    .filter(
      op =>
        op.kind === 'replace' &&
        hashed.get(op.rel) !== undefined &&
        remote.files.get(op.rel)?.size === op.size
    )
    .map(op => op.rel)
}

/**
 * Skips a candidate only when the server's hash equals the local one; a file the server gave no
 * usable hash for stays "replace". Returns the state entries to record for the skipped files, so
 * a later `sync: changed` knows their content is there.
 */
export function applyServerHashes(
  ops: Op[],
  local: LocalEntry[],
  remote: RemoteTree,
  serverHashes: Map<string, string>
): Map<string, StateEntry> {
  const localHash = new Map(local.map(f => [f.rel, f.sha256]))
  const verified = new Map<string, StateEntry>()
  for (const op of ops) {
    const there = remote.files.get(op.rel)
    const sha256 = localHash.get(op.rel)
    const server = serverHashes.get(op.rel)
    if (op.kind !== 'replace' || !there || there.size !== op.size) continue
    if (sha256 === undefined || server === undefined || server !== sha256) continue
    op.kind = 'skip'
    verified.set(op.rel, { sha256, size: op.size, mtime: there.mtime })
  }
  return verified
}
