import type { RemoteTree } from '../../src/plans/remote-tree.js'
import {
  emptiedDirs,
  planSync,
  STATE_FILE,
  type LocalEntry,
  type Op,
  type StateEntry,
  type SyncOptions,
  type SyncState
} from '../../src/plans/sync.js'

const SHA_A = 'a'.repeat(64)
const SHA_B = 'b'.repeat(64)
const MTIME = 1_700_000_000

function tree(
  files: Record<string, { size: number; mtime: number }> = {},
  dirs: string[] = [],
  others: string[] = []
): RemoteTree {
  return { files: new Map(Object.entries(files)), dirs, others }
}

function options(overrides: Partial<SyncOptions> = {}): SyncOptions {
  return {
    sync: true,
    delete: false,
    isExcluded: () => false,
    isOwnFile: () => false,
    ...overrides
  }
}

function state(files: Record<string, StateEntry>): SyncState {
  return { files: new Map(Object.entries(files)) }
}

/** One local file, one remote copy, one state entry that all agree: the baseline for "skip". */
const LOCAL: LocalEntry = { rel: 'site/index.html', size: 10, sha256: SHA_A }
const REMOTE = tree({ 'site/index.html': { size: 10, mtime: MTIME } })
const STATE = state({ 'site/index.html': { sha256: SHA_A, size: 10, mtime: MTIME } })

function kindOf(ops: Op[], rel: string): Op['kind'] | undefined {
  return ops.find(o => o.rel === rel && o.kind !== 'delete')?.kind
}

describe('planSync: per file', () => {
  it('skips a file when content, state, remote size and remote mtime all match', () => {
    expect(planSync([LOCAL], REMOTE, STATE, options())).toEqual([
      { kind: 'skip', rel: 'site/index.html', size: 10 }
    ])
  })

  it('creates a file the server does not have, whatever the state says', () => {
    expect(planSync([LOCAL], tree(), STATE, options())).toEqual([
      { kind: 'create', rel: 'site/index.html', size: 10 }
    ])
    expect(planSync([LOCAL], tree(), undefined, options({ sync: false }))).toEqual([
      { kind: 'create', rel: 'site/index.html', size: 10 }
    ])
  })

  it('replaces a file whose content hash differs from the recorded one', () => {
    const ops = planSync([{ ...LOCAL, sha256: SHA_B }], REMOTE, STATE, options())
    expect(ops).toEqual([{ kind: 'replace', rel: 'site/index.html', size: 10 }])
  })

  it('replaces a file when there is no state at all', () => {
    expect(kindOf(planSync([LOCAL], REMOTE, undefined, options()), LOCAL.rel)).toBe('replace')
  })

  it('replaces a file the state does not mention', () => {
    const other = state({ 'other.html': { sha256: SHA_A, size: 10, mtime: MTIME } })
    expect(kindOf(planSync([LOCAL], REMOTE, other, options()), LOCAL.rel)).toBe('replace')
  })

  it('replaces a file whose local hash is unknown', () => {
    const ops = planSync([{ rel: LOCAL.rel, size: 10 }], REMOTE, STATE, options())
    expect(kindOf(ops, LOCAL.rel)).toBe('replace')
  })

  it('replaces a file whose remote size differs from the recorded one (edited on the server)', () => {
    const edited = tree({ 'site/index.html': { size: 11, mtime: MTIME } })
    expect(kindOf(planSync([LOCAL], edited, STATE, options()), LOCAL.rel)).toBe('replace')
  })

  it('replaces a file whose remote mtime differs from the recorded one (touched on the server)', () => {
    const touched = tree({ 'site/index.html': { size: 10, mtime: MTIME + 1 } })
    expect(kindOf(planSync([LOCAL], touched, STATE, options()), LOCAL.rel)).toBe('replace')
  })

  it('replaces a file whose recorded size differs from the local size', () => {
    const stale = state({ 'site/index.html': { sha256: SHA_A, size: 9, mtime: MTIME } })
    expect(kindOf(planSync([LOCAL], REMOTE, stale, options()), LOCAL.rel)).toBe('replace')
  })

  it('replaces everything present when sync is off, even if the state matches', () => {
    const ops = planSync([LOCAL], REMOTE, STATE, options({ sync: false }))
    expect(ops).toEqual([{ kind: 'replace', rel: 'site/index.html', size: 10 }])
  })

  it('keeps local order and sizes, one op per local file', () => {
    const local: LocalEntry[] = [
      { rel: 'b.txt', size: 2, sha256: SHA_B },
      LOCAL,
      { rel: 'a.txt', size: 1, sha256: SHA_A }
    ]
    const remote = tree({ ...Object.fromEntries(REMOTE.files), 'a.txt': { size: 1, mtime: 5 } })
    expect(planSync(local, remote, STATE, options())).toEqual([
      { kind: 'create', rel: 'b.txt', size: 2 },
      { kind: 'skip', rel: 'site/index.html', size: 10 },
      { kind: 'replace', rel: 'a.txt', size: 1 }
    ])
  })
})

describe('planSync: deletes', () => {
  const remote = tree({
    'site/index.html': { size: 10, mtime: MTIME },
    'old.html': { size: 3, mtime: MTIME },
    'sub/gone.css': { size: 4, mtime: MTIME },
    [STATE_FILE]: { size: 100, mtime: MTIME },
    'sub/.gone.css.deadbeef.sftp-part': { size: 7, mtime: MTIME },
    'uploads/photo.jpg': { size: 50, mtime: MTIME },
    'keep.log': { size: 6, mtime: MTIME }
  })
  const deleteOptions = options({
    delete: true,
    isOwnFile: rel => rel.endsWith('.sftp-part'),
    isExcluded: rel => rel.startsWith('uploads/') || rel.endsWith('.log')
  })

  it('deletes remote files not in the source, and nothing else', () => {
    const ops = planSync([LOCAL], remote, STATE, deleteOptions)
    const deletes = ops.filter(o => o.kind === 'delete')
    expect(deletes).toEqual(
      expect.arrayContaining([
        { kind: 'delete', rel: 'old.html', size: 3 },
        { kind: 'delete', rel: 'sub/gone.css', size: 4 }
      ])
    )
    expect(deletes).toHaveLength(2)
    expect(ops.find(o => o.rel === LOCAL.rel)).toEqual({ kind: 'skip', rel: LOCAL.rel, size: 10 })
  })

  it('never deletes the state file', () => {
    const ops = planSync([LOCAL], remote, STATE, deleteOptions)
    expect(ops.some(o => o.rel === STATE_FILE)).toBe(false)
    expect(STATE_FILE).toBe('.pinned-sftp-state.json')
  })

  it('never deletes the state file even when nothing else protects it', () => {
    const ops = planSync([], tree({ [STATE_FILE]: { size: 1, mtime: 1 } }), undefined, {
      ...options({ delete: true })
    })
    expect(ops).toEqual([])
  })

  it('never deletes its own temporary files', () => {
    const ops = planSync([LOCAL], remote, STATE, deleteOptions)
    expect(ops.some(o => o.rel.endsWith('.sftp-part'))).toBe(false)
  })

  it('never deletes excluded files', () => {
    const ops = planSync([LOCAL], remote, STATE, deleteOptions)
    expect(ops.some(o => o.rel === 'uploads/photo.jpg' || o.rel === 'keep.log')).toBe(false)
  })

  it('asks the predicates about the path below the target', () => {
    const seen: string[] = []
    planSync([], tree({ 'a/b.txt': { size: 1, mtime: 1 } }), undefined, {
      ...options({ delete: true }),
      isExcluded: rel => {
        seen.push(rel)
        return false
      }
    })
    expect(seen).toEqual(['a/b.txt'])
  })

  it('plans no deletes when delete is off', () => {
    const ops = planSync([LOCAL], remote, STATE, { ...deleteOptions, delete: false })
    expect(ops.filter(o => o.kind === 'delete')).toEqual([])
    expect(ops).toHaveLength(1)
  })

  it('does not delete a source file that is being replaced or created', () => {
    const ops = planSync(
      [
        { rel: 'old.html', size: 30, sha256: SHA_B },
        { rel: 'new.html', size: 1, sha256: SHA_A }
      ],
      tree({ 'old.html': { size: 3, mtime: MTIME } }),
      undefined,
      options({ delete: true })
    )
    expect(ops).toEqual([
      { kind: 'replace', rel: 'old.html', size: 30 },
      { kind: 'create', rel: 'new.html', size: 1 }
    ])
  })
})

describe('emptiedDirs', () => {
  const none = () => false

  it('lists directories left empty, deepest first', () => {
    const remote = tree(
      { 'a/b/c/x.txt': { size: 1, mtime: 1 }, 'a/y.txt': { size: 1, mtime: 1 } },
      ['a', 'a/b', 'a/b/c']
    )
    const dirs = emptiedDirs(remote, ['a/b/c/x.txt', 'a/y.txt'], [], none)
    expect(dirs).toEqual(['a/b/c', 'a/b', 'a'])
  })

  it('orders by depth, not by listing order', () => {
    const files = ['z/y/x/f', 'a/b/f', 'q/f']
    const remote = tree(Object.fromEntries(files.map(f => [f, { size: 1, mtime: 1 }])), [
      'z',
      'a',
      'a/b',
      'z/y',
      'z/y/x',
      'q'
    ])
    const dirs = emptiedDirs(remote, files, [], none)
    const depths = dirs.map(d => d.split('/').length)
    expect(depths).toEqual([...depths].sort((a, b) => b - a))
    expect(dirs[0]).toBe('z/y/x')
    expect(new Set(dirs)).toEqual(new Set(['z', 'a', 'a/b', 'z/y', 'z/y/x', 'q']))
  })

  it('keeps directories that still hold a remote file not deleted', () => {
    const remote = tree(
      { 'a/b/x.txt': { size: 1, mtime: 1 }, 'a/b/stay.txt': { size: 1, mtime: 1 } },
      ['a', 'a/b']
    )
    expect(emptiedDirs(remote, ['a/b/x.txt'], [], none)).toEqual([])
  })

  it('keeps directories that will hold a kept source file', () => {
    const remote = tree({ 'a/b/x.txt': { size: 1, mtime: 1 } }, ['a', 'a/b', 'c'])
    expect(emptiedDirs(remote, ['a/b/x.txt'], ['a/b/new.txt'], none)).toEqual([])
    expect(emptiedDirs(remote, ['a/b/x.txt'], ['a/top.txt'], none)).toEqual(['a/b'])
  })

  it('leaves alone directories that were already empty (an app may rely on them)', () => {
    const remote = tree({ 'old/x.txt': { size: 1, mtime: 1 } }, ['old', 'uploads', 'cache'])
    expect(emptiedDirs(remote, [], [], none)).toEqual([])
    expect(emptiedDirs(remote, ['old/x.txt'], [], none)).toEqual(['old'])
  })

  it('keeps directories holding symbolic links or other entries', () => {
    const remote = tree(
      { 'a/x.txt': { size: 1, mtime: 1 } },
      ['a', 'b', 'b/c'],
      ['a/link', 'b/c/fifo']
    )
    expect(emptiedDirs(remote, ['a/x.txt'], [], none)).toEqual([])
  })

  it('keeps excluded directories', () => {
    const remote = tree(
      { 'cache/x.txt': { size: 1, mtime: 1 }, 'old/y.txt': { size: 1, mtime: 1 } },
      ['cache', 'old']
    )
    const dirs = emptiedDirs(remote, ['cache/x.txt', 'old/y.txt'], [], rel => rel === 'cache')
    expect(dirs).toEqual(['old'])
  })

  it('does not treat a directory as occupied by a sibling with a common prefix', () => {
    const remote = tree({ 'ab/x.txt': { size: 1, mtime: 1 }, 'a/z.txt': { size: 1, mtime: 1 } }, [
      'a',
      'ab'
    ])
    expect(emptiedDirs(remote, ['a/z.txt'], [], none)).toEqual(['a'])
  })

  it('returns nothing for an empty tree', () => {
    expect(emptiedDirs(tree(), [], [], none)).toEqual([])
  })
})
