import * as path from 'node:path'
import { hashRemoteFiles } from '../engine/remote-hash-batch.js'
import type { SftpSession } from '../engine/session.js'
import { applyServerHashes, checksumCandidates } from '../plans/checksum-sync.js'
import type { RemoteTree } from '../plans/remote-tree.js'
import type { LocalEntry, Op, StateEntry } from '../plans/sync.js'

/** What `sync: checksum` hashed on one server, for the log and the job summary. */
export interface ContentCheck {
  /** Same-size files hashed on the server. */
  hashed: number
  bySha256sum: number
  readBack: number
  /** Of those, files whose content differed (or could not be hashed): sent again. */
  differing: number
}

/**
 * Hashes on the server every file it has at the local size and turns those whose content matches
 * into skips (in place in `ops`). Files without a usable hash stay "replace".
 */
export async function checkContentOnServer(
  session: SftpSession,
  dest: string,
  ops: Op[],
  local: LocalEntry[],
  tree: RemoteTree
): Promise<{ verified: Map<string, StateEntry>; checksum: ContentCheck }> {
  const rels = checksumCandidates(ops, local, tree)
  const sizes = new Map(local.map(f => [f.rel, f.size]))
  const remotePath = (rel: string) => path.posix.join(dest, rel)
  const result = await hashRemoteFiles(
    session,
    rels.map(rel => ({ path: remotePath(rel), size: sizes.get(rel) ?? 0 }))
  )
  const byRel = new Map<string, string>()
  for (const rel of rels) {
    const hash = result.hashes.get(remotePath(rel))
    if (hash) byRel.set(rel, hash)
  }
  const verified = applyServerHashes(ops, local, tree, byRel)
  return {
    verified,
    checksum: {
      hashed: rels.length,
      bySha256sum: result.counts.sha256sum,
      readBack: result.counts['read-back'],
      differing: rels.length - verified.size
    }
  }
}

export function describeContentCheck(check: ContentCheck): string {
  const methods = [
    check.bySha256sum ? `${check.bySha256sum} by sha256sum` : '',
    check.readBack ? `${check.readBack} by reading back over SFTP` : ''
  ].filter(Boolean)
  return (
    `sync: checksum: ${check.hashed} same-size files hashed on the server` +
    `${methods.length ? ` (${methods.join(', ')})` : ''}, ${check.differing} differing.`
  )
}
