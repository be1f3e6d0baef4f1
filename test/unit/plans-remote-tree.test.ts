import * as path from 'node:path'
import type { RemoteLister, RemoteListing } from '../../src/plans/remote-files.js'
import { listRemoteTree } from '../../src/plans/remote-tree.js'
import { ConnectionError } from '../../src/errors.js'

/** A number is a file of that size, 'link' a symbolic link, 'fifo' some other entry, an object a directory. */
interface Tree {
  [name: string]: number | 'link' | 'fifo' | Tree
}

const MTIME = 1_700_000_000

function entry(name: string, node: number | 'link' | 'fifo' | Tree | 'raw-dir'): RemoteListing {
  const isDirectory = typeof node === 'object' || node === 'raw-dir'
  return {
    name,
    size: typeof node === 'number' ? node : 4096,
    // Each file gets its own mtime so the tree's values can be checked.
    mtime: typeof node === 'number' ? MTIME + node : MTIME,
    isDirectory,
    isFile: typeof node === 'number',
    isSymbolicLink: node === 'link'
  }
}

/** An in-memory server that counts how many readdir calls run at once. */
class FakeLister implements RemoteLister {
  readonly readdirs: string[] = []
  inFlight = 0
  maxInFlight = 0
  private readonly dirs = new Map<string, RemoteListing[]>()

  constructor(
    private readonly root: string,
    tree: Tree,
    private readonly delayMs = 0
  ) {
    this.add(root, tree)
  }

  private add(dir: string, tree: Tree): void {
    const listing: RemoteListing[] = []
    this.dirs.set(dir, listing)
    for (const [name, node] of Object.entries(tree)) {
      listing.push(entry(name, node))
      if (typeof node === 'object') this.add(path.posix.join(dir, name), node)
    }
  }

  addRaw(dir: string, listing: RemoteListing): this {
    this.dirs.get(dir)?.push(listing)
    return this
  }

  async stat(p: string) {
    if (this.dirs.has(p)) return { size: 4096, mtime: MTIME, isDirectory: true, isFile: false }
    if (p === `${this.root}.file`)
      return { size: 1, mtime: MTIME, isDirectory: false, isFile: true }
    throw new Error(`No such file: ${p}`)
  }

  async readdir(p: string): Promise<RemoteListing[]> {
    this.readdirs.push(p)
    this.inFlight++
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight)
    try {
      await new Promise(r => setTimeout(r, this.delayMs))
      const listing = this.dirs.get(p)
      if (!listing) throw new Error(`No such file: ${p}`)
      return [entry('.', 'raw-dir'), entry('..', 'raw-dir'), ...listing]
    } finally {
      this.inFlight--
    }
  }
}

describe('listRemoteTree', () => {
  it('gives an empty tree for a missing root', async () => {
    const lister = new FakeLister('/srv/site', { 'a.txt': 1 })
    const tree = await listRemoteTree(lister, '/srv/missing')
    expect(tree).toEqual({ files: new Map(), dirs: [], others: [] })
  })

  it('gives an empty tree when the root is a file', async () => {
    const lister = new FakeLister('/srv/site', { 'a.txt': 1 })
    const tree = await listRemoteTree(lister, '/srv/site.file')
    expect(tree).toEqual({ files: new Map(), dirs: [], others: [] })
  })

  it('gives an empty tree when the root is no folder, whatever a listing of it returned', async () => {
    const lister = new FakeLister('/srv/site', { 'a.txt': 1 })
    lister.stat = async () => ({ size: 1, mtime: MTIME, isDirectory: false, isFile: true })
    const tree = await listRemoteTree(lister, '/srv/site')
    expect(tree).toEqual({ files: new Map(), dirs: [], others: [] })
  })

  // At 50 ms a round trip, waiting for the root's stat before listing it cost 50 ms per plan.
  it('starts listing the root before its stat has answered', async () => {
    const lister = new FakeLister('/srv/site', { 'a.txt': 1 }, 10)
    const real = lister.stat.bind(lister)
    let listedBeforeStat = -1
    lister.stat = async (p: string) => {
      listedBeforeStat = lister.readdirs.length
      return real(p)
    }
    const tree = await listRemoteTree(lister, '/srv/site')
    expect(listedBeforeStat).toBe(1)
    expect([...tree.files.keys()]).toEqual(['a.txt'])
  })

  it('throws a lost connection from the stat, not an empty tree', async () => {
    const lister = new FakeLister('/srv/site', { 'a.txt': 1 })
    lister.stat = async () => {
      throw new ConnectionError('The connection was lost.', true)
    }
    await expect(listRemoteTree(lister, '/srv/site')).rejects.toBeInstanceOf(ConnectionError)
  })

  it('classifies files, directories and other entries, by path below the root', async () => {
    const lister = new FakeLister('/srv/site', {
      'index.html': 10,
      css: { 'a.css': 20, vendor: { 'b.css': 30 } },
      empty: {},
      current: 'link',
      pipe: 'fifo'
    })
    const tree = await listRemoteTree(lister, '/srv/site')
    expect(tree.files).toEqual(
      new Map([
        ['index.html', { size: 10, mtime: MTIME + 10 }],
        ['css/a.css', { size: 20, mtime: MTIME + 20 }],
        ['css/vendor/b.css', { size: 30, mtime: MTIME + 30 }]
      ])
    )
    expect(new Set(tree.dirs)).toEqual(new Set(['css', 'css/vendor', 'empty']))
    expect(new Set(tree.others)).toEqual(new Set(['current', 'pipe']))
  })

  it('lists parents before children', async () => {
    const lister = new FakeLister('/r', { a: { b: { c: { 'x.txt': 1 } } }, z: { y: {} } })
    const tree = await listRemoteTree(lister, '/r')
    for (const dir of tree.dirs) {
      const parent = path.posix.dirname(dir)
      if (parent !== '.') expect(tree.dirs.indexOf(parent)).toBeLessThan(tree.dirs.indexOf(dir))
    }
    expect(tree.dirs).toHaveLength(5)
  })

  it('never descends into a symbolic link, even one reported as a directory', async () => {
    const lister = new FakeLister('/r', { real: { 'x.txt': 1 } })
    lister.addRaw('/r', { ...entry('linked', {}), isSymbolicLink: true })
    const tree = await listRemoteTree(lister, '/r')
    expect(tree.others).toEqual(['linked'])
    expect(tree.dirs).toEqual(['real'])
    expect(lister.readdirs).not.toContain('/r/linked')
  })

  it('skips unsafe names a hostile server lists', async () => {
    const lister = new FakeLister('/r', { 'ok.txt': 1, sub: { 'fine.txt': 2 } })
    for (const name of ['../escape', 'a/b', 'a\\b', 'nul\0x', 'C:evil', '']) {
      lister.addRaw('/r', entry(name, 5))
      lister.addRaw('/r/sub', entry(name, {}))
    }
    const tree = await listRemoteTree(lister, '/r')
    expect([...tree.files.keys()].sort()).toEqual(['ok.txt', 'sub/fine.txt'])
    expect(tree.dirs).toEqual(['sub'])
    expect(tree.others).toEqual([])
    expect(lister.readdirs.sort()).toEqual(['/r', '/r/sub'])
  })

  it('lists the directories of one level in parallel', async () => {
    const wide: Tree = {}
    for (let i = 0; i < 8; i++) wide[`d${i}`] = { [`f${i}.txt`]: i + 1, inner: { 'x.txt': 1 } }
    const lister = new FakeLister('/r', wide, 10)
    const tree = await listRemoteTree(lister, '/r')
    expect(lister.maxInFlight).toBeGreaterThan(1)
    expect(tree.files.size).toBe(16)
    expect(tree.dirs).toHaveLength(16)
    expect(lister.readdirs).toHaveLength(17)
  })

  it('propagates a listing error below the root', async () => {
    const lister = new FakeLister('/r', { sub: {} })
    const real = lister.readdir.bind(lister)
    lister.readdir = async (p: string) => {
      if (p === '/r/sub') throw new Error('Permission denied')
      return real(p)
    }
    await expect(listRemoteTree(lister, '/r')).rejects.toThrow('Permission denied')
  })
})
