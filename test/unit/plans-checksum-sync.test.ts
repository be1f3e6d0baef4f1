import { applyServerHashes, checksumCandidates } from '../../src/plans/checksum-sync.js'
import type { RemoteTree } from '../../src/plans/remote-tree.js'
import { planSync, type LocalEntry, type SyncState } from '../../src/plans/sync.js'

const SHA_A = 'a'.repeat(64)
const SHA_B = 'b'.repeat(64)
const MTIME = 1_700_000_000

const remote: RemoteTree = {
  files: new Map([
    ['same.txt', { size: 10, mtime: MTIME }],
    ['edited.txt', { size: 10, mtime: MTIME }],
    ['resized.txt', { size: 99, mtime: MTIME }],
    ['unhashed.txt', { size: 10, mtime: MTIME }]
  ]),
  dirs: [],
  others: []
}

const local: LocalEntry[] = [
  { rel: 'same.txt', size: 10, sha256: SHA_A },
  { rel: 'edited.txt', size: 10, sha256: SHA_A },
  { rel: 'resized.txt', size: 10, sha256: SHA_A },
  { rel: 'unhashed.txt', size: 10, sha256: SHA_A },
  { rel: 'new.txt', size: 10, sha256: SHA_A }
]

/** A state that vouches for every file, as after a deploy: checksum must not trust it. */
const state: SyncState = {
  files: new Map(local.map(f => [f.rel, { sha256: SHA_A, size: 10, mtime: MTIME }]))
}

const plan = () =>
  planSync(local, remote, state, {
    sync: false,
    delete: false,
    isExcluded: () => false,
    isOwnFile: () => false
  })

describe('sync: checksum plan', () => {
  it('hashes on the server every same-size file, whatever the state says; no others', () => {
    expect(checksumCandidates(plan(), local, remote)).toEqual([
      'same.txt',
      'edited.txt',
      'unhashed.txt'
    ])
  })

  it('skips only files whose server hash equals the local one', () => {
    const ops = plan()
    const verified = applyServerHashes(
      ops,
      local,
      remote,
      new Map([
        ['same.txt', SHA_A],
        ['edited.txt', SHA_B],
        // A hash for a file of another size proves nothing: it is sent anyway.
        ['resized.txt', SHA_A]
      ])
    )
    expect(Object.fromEntries(ops.map(o => [o.rel, o.kind]))).toEqual({
      'same.txt': 'skip',
      'edited.txt': 'replace',
      'resized.txt': 'replace',
      'unhashed.txt': 'replace',
      'new.txt': 'create'
    })
    expect(verified).toEqual(new Map([['same.txt', { sha256: SHA_A, size: 10, mtime: MTIME }]]))
  })

  it('sends a file with no local hash rather than skipping it', () => {
    const bare: LocalEntry[] = [{ rel: 'same.txt', size: 10 }]
    const ops = planSync(bare, remote, undefined, {
      sync: false,
      delete: false,
      isExcluded: () => false,
      isOwnFile: () => false
    })
    expect(checksumCandidates(ops, bare, remote)).toEqual([])
    applyServerHashes(ops, bare, remote, new Map([['same.txt', SHA_A]]))
    expect(ops[0].kind).toBe('replace')
  })
})
