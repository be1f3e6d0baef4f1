import * as path from 'node:path'
import { InputError } from '../../src/errors.js'
import {
  listRemoteFiles,
  type RemoteFile,
  type RemoteLister,
  type RemoteListing
} from '../../src/plans/remote-files.js'
import { rejected } from './real-keys.js'

/** A directory tree: a number is a file of that size, 'link' a symbolic link, an object a directory. */
interface Tree {
  [name: string]: number | 'link' | Tree
}

const MTIME = 1_700_000_000

function entry(name: string, node: number | 'link' | Tree | 'raw-dir'): RemoteListing {
  const isDirectory = typeof node === 'object' || node === 'raw-dir'
  return {
    name,
    size: typeof node === 'number' ? node : 4096,
    mtime: MTIME,
    isDirectory,
    isFile: typeof node === 'number',
    isSymbolicLink: node === 'link'
  }
}

/** An in-memory server: what readdir and stat would say, and a log of every readdir. */
class FakeServer implements RemoteLister {
  readonly readdirs: string[] = []
  private readonly dirs = new Map<string, RemoteListing[]>()
  private readonly files = new Map<string, number>()

  constructor(root: string, tree: Tree) {
    this.addTree(root, tree)
  }

  addTree(dir: string, tree: Tree): this {
    const listing = this.dirs.get(dir) ?? []
    this.dirs.set(dir, listing)
    for (const [name, node] of Object.entries(tree)) {
      listing.push(entry(name, node))
      const full = path.posix.join(dir, name)
      if (typeof node === 'object') this.addTree(full, node)
      else if (typeof node === 'number') this.files.set(full, node)
    }
    return this
  }

  /** Adds an entry exactly as a hostile server might list it, name unchecked. */
  addRaw(dir: string, listing: RemoteListing): this {
    this.dirs.get(dir)?.push(listing)
    return this
  }

  async stat(p: string) {
    if (this.dirs.has(p)) return { size: 4096, mtime: MTIME, isDirectory: true, isFile: false }
    const size = this.files.get(p)
    if (size !== undefined) return { size, mtime: MTIME, isDirectory: false, isFile: true }
    throw new Error(`No such file: ${p}`)
  }

  async readdir(p: string): Promise<RemoteListing[]> {
    this.readdirs.push(p)
    const listing = this.dirs.get(p)
    if (!listing) throw new Error(`No such file: ${p}`)
    // Real servers list the directory itself and its parent too.
    return [entry('.', 'raw-dir'), entry('..', 'raw-dir'), ...listing]
  }
}

const DATA: Tree = {
  'a.txt': 1,
  sub: { 'b.txt': 2, deep: { 'c.txt': 3, deeper: { 'd.txt': 4 } } },
  other: { 'e.txt': 5, 'f.log': 6 },
  '.hidden': { 'g.txt': 7 }
}

async function list(
  server: RemoteLister,
  include: string[],
  exclude: string[] = [],
  warnings: string[] = []
) {
  return listRemoteFiles({ include, exclude }, server, m => warnings.push(m))
}

const rels = (files: RemoteFile[]) => files.map(f => f.rel)

describe('listRemoteFiles', () => {
  it('lists a literal file under its basename, with size and mtime', async () => {
    const server = new FakeServer('/data', DATA)
    const { files, refused } = await list(server, ['/data/sub/deep/c.txt'])
    expect(files).toEqual([{ path: '/data/sub/deep/c.txt', rel: 'c.txt', size: 3, mtime: MTIME }])
    expect(refused).toEqual([])
    // Asked for along with the stat, in case it was a folder; its failure is ignored.
    expect(server.readdirs).toEqual(['/data/sub/deep/c.txt'])
  })

  it("asks for a named folder's listing along with its stat, and lists it once", async () => {
    const server = new FakeServer('/data', DATA)
    const calls: string[] = []
    const lister: RemoteLister = {
      stat: async p => {
        calls.push(`stat ${p}`)
        // The stat's answer comes after the listing was asked for: one round trip, not two.
        await new Promise(resolve => setImmediate(resolve))
        calls.push(`stat answered`)
        return server.stat(p)
      },
      readdir: (p, onBatch) => {
        calls.push(`readdir ${p}`)
        return server.readdir(p).then(listing => {
          onBatch?.(listing.map(e => e.name))
          return listing
        })
      }
    }
    const { files } = await list(lister, ['/data/other'])
    expect(rels(files)).toEqual(['e.txt', 'f.log'])
    expect(calls.slice(0, 3)).toEqual(['readdir /data/other', 'stat /data/other', 'stat answered'])
    expect(server.readdirs).toEqual(['/data/other'])
  })

  it('recurses into a directory, paths relative to it, dot entries included', async () => {
    const { files } = await list(new FakeServer('/data', DATA), ['/data/'])
    expect(rels(files)).toEqual([
      '.hidden/g.txt',
      'a.txt',
      'other/e.txt',
      'other/f.log',
      'sub/b.txt',
      'sub/deep/c.txt',
      'sub/deep/deeper/d.txt'
    ])
    expect(files.find(f => f.rel === 'sub/deep/c.txt')?.path).toBe('/data/sub/deep/c.txt')
  })

  it('resolves ~/ and relative paths against the login directory', async () => {
    const server = new FakeServer('site', { 'index.html': 10, css: { 'a.css': 11 } })
    const { files } = await list(server, ['~/site'])
    expect(files.map(f => [f.path, f.rel])).toEqual([
      ['site/css/a.css', 'css/a.css'],
      ['site/index.html', 'index.html']
    ])
  })

  it('starts a leading glob in the login directory', async () => {
    const server = new FakeServer('.', { 'a.txt': 1, 'b.log': 2 })
    const { files } = await list(server, ['*.txt'])
    expect(files).toEqual([{ path: 'a.txt', rel: 'a.txt', size: 1, mtime: MTIME }])
  })

  it('lists no deeper than a glob without ** needs', async () => {
    const server = new FakeServer('/data', DATA)
    expect(rels((await list(server, ['/data/*.txt'])).files)).toEqual(['a.txt'])
    expect(server.readdirs).toEqual(['/data'])

    const two = new FakeServer('/data', DATA)
    expect(rels((await list(two, ['/data/*/*.txt'])).files)).toEqual([
      '.hidden/g.txt',
      'other/e.txt',
      'sub/b.txt'
    ])
    expect([...two.readdirs].sort()).toEqual(['/data', '/data/.hidden', '/data/other', '/data/sub'])
  })

  it('lists every level for **', async () => {
    const server = new FakeServer('/data', DATA)
    expect(rels((await list(server, ['/data/**/*.txt'])).files)).toEqual([
      '.hidden/g.txt',
      'a.txt',
      'other/e.txt',
      'sub/b.txt',
      'sub/deep/c.txt',
      'sub/deep/deeper/d.txt'
    ])
    expect(server.readdirs).toContain('/data/sub/deep/deeper')
  })

  it('takes the whole contents of a directory the glob names', async () => {
    const server = new FakeServer('/data', DATA)
    expect(rels((await list(server, ['/data/s*'])).files)).toEqual([
      'sub/b.txt',
      'sub/deep/c.txt',
      'sub/deep/deeper/d.txt'
    ])
    expect(server.readdirs).not.toContain('/data/other')
  })

  it('leaves out excludes by name, by directory, and by relative path', async () => {
    const server = new FakeServer('/data', DATA)
    const byName = await list(server, ['/data'], ['*.log', 'deep', '.hidden'])
    expect(rels(byName.files)).toEqual(['a.txt', 'other/e.txt', 'sub/b.txt'])
    const byPath = await list(server, ['/data'], ['sub/deep/deeper'])
    expect(rels(byPath.files)).not.toContain('sub/deep/deeper/d.txt')
    expect(rels(byPath.files)).toContain('sub/deep/c.txt')
  })

  it('leaves out an exclude written as the full remote path', async () => {
    const server = new FakeServer('/data', DATA)
    const { files } = await list(server, ['/data'], ['/data/sub/deep', '/data/other/f.log'])
    expect(rels(files)).toEqual(['.hidden/g.txt', 'a.txt', 'other/e.txt', 'sub/b.txt'])
  })

  it('reads a bare exclude below the source only, never as a folder of its remote path', async () => {
    const server = new FakeServer('/tmp/backups', { 'a.gz': 1, tmp: { 'b.gz': 2 } })
    const { files } = await list(server, ['/tmp/backups/**/*.gz'], ['tmp'])
    expect(rels(files)).toEqual(['a.gz'])
  })

  it('refuses a line whose every match is excluded', async () => {
    const server = new FakeServer('/data', DATA)
    const error = await rejected(() => list(server, ['/data/sub'], ['*.txt']))
    expect(error).toBeInstanceOf(InputError)
    expect((error as InputError).message).toMatch(
      /'\/data\/sub' matches 3 files, but the '!' lines/
    )
  })

  it('refuses a source path whose own name is unsafe, whatever the server calls it', async () => {
    const liar: RemoteLister = {
      stat: async () => ({ size: 5, mtime: MTIME, isDirectory: false, isFile: true }),
      readdir: async () => []
    }
    const error = await rejected(() => list(liar, ['..']))
    expect((error as InputError).message).toContain("'..' matches no file on the server")
  })

  it('refuses and reports hostile names without using them', async () => {
    const server = new FakeServer('/data', { 'ok.txt': 1, dir: { 'inner.txt': 2 } })
    const hostile = ['a/b', 'x\\y', 'nul\0name', '', 'C:evil', 'esc\u001b[31mred']
    for (const name of hostile.slice(0, 5)) server.addRaw('/data', entry(name, 9))
    server.addRaw('/data/dir', entry('..', 9)).addRaw('/data/dir', entry('../up', 9))
    const warnings: string[] = []
    const { files, refused } = await list(server, ['/data'], [], warnings)

    expect(rels(files)).toEqual(['dir/inner.txt', 'ok.txt'])
    expect(refused.map(r => r.reason).sort()).toEqual(
      [
        'contains /',
        'contains /',
        'contains NUL',
        'contains \\',
        'empty name',
        'looks like a drive path'
      ].sort()
    )
    expect(refused.map(r => r.path)).toContain('/data/dir/../up')
    expect(warnings).toHaveLength(refused.length)
    for (const w of warnings) expect(w).toMatch(/^Refused remote entry '/)
    expect(warnings.join('\n')).not.toContain('\0')
  })

  it('reports only the odd entries a line would have selected and no exclude leaves out', async () => {
    const server = new FakeServer('/srv', {
      'site-1.tar.gz': 1,
      latest: 'link',
      logs: { 'x.log': 2, 'link.log': 'link' },
      'site-old.tar.gz': 'link'
    })
    const warnings: string[] = []
    const { files, refused } = await list(server, ['/srv/site-*.tar.gz'], ['site-old*'], warnings)
    expect(rels(files)).toEqual(['site-1.tar.gz'])
    expect(refused).toEqual([])
    expect(warnings).toEqual([])
    const all = await list(server, ['/srv/site-*.tar.gz'])
    expect(all.refused.map(r => r.rel)).toEqual(['site-old.tar.gz'])
    // Above the glob's last level a link may stand for a folder the glob would enter.
    const nested = await list(server, ['/srv/*/*.log'])
    expect(rels(nested.files)).toEqual(['logs/x.log'])
    expect(nested.refused.map(r => r.rel).sort()).toEqual([
      'latest',
      'logs/link.log',
      'site-old.tar.gz'
    ])
  })

  it('never follows . or .. entries', async () => {
    const server = new FakeServer('/data', { 'a.txt': 1 })
    const { files, refused } = await list(server, ['/data'])
    expect(rels(files)).toEqual(['a.txt'])
    expect(refused).toEqual([])
    expect(server.readdirs).toEqual(['/data'])
  })

  it('refuses symbolic links, to files or directories', async () => {
    const server = new FakeServer('/data', {
      'a.txt': 1,
      'file-link': 'link',
      d: { 'dir-link': 'link' }
    })
    const warnings: string[] = []
    const { files, refused } = await list(server, ['/data'], [], warnings)
    expect(rels(files)).toEqual(['a.txt'])
    expect(refused).toEqual([
      { path: '/data/file-link', reason: 'symbolic links are not followed', rel: 'file-link' },
      { path: '/data/d/dir-link', reason: 'symbolic links are not followed', rel: 'd/dir-link' }
    ])
    expect(warnings).toEqual([
      "Refused remote entry '/data/file-link': symbolic links are not followed.",
      "Refused remote entry '/data/d/dir-link': symbolic links are not followed."
    ])
    expect(server.readdirs).not.toContain('/data/file-link')
  })

  it('throws InputError(source) for a pattern that matches nothing', async () => {
    for (const pattern of [
      '/data/missing.txt',
      '/data/*.pdf',
      '/nowhere/**',
      '/data/sub/deep/*.log'
    ]) {
      const error = await rejected(() =>
        list(new FakeServer('/data', DATA), ['/data/a.txt', pattern])
      )
      expect(error).toBeInstanceOf(InputError)
      expect((error as InputError).input).toBe('source')
      expect((error as InputError).message).toContain(`'${pattern}' matches no file on the server`)
    }
  })

  it('accepts the same file named twice, once', async () => {
    const { files } = await list(new FakeServer('/data', DATA), ['/data/a.txt', '/data/*.txt'])
    expect(files).toEqual([{ path: '/data/a.txt', rel: 'a.txt', size: 1, mtime: MTIME }])
  })

  it('throws when two different remote files would land on the same local path', async () => {
    const server = new FakeServer('/data', DATA).addTree('/backup', { 'a.txt': 100 })
    const error = await rejected(() => list(server, ['/data/a.txt', '/backup/a.txt']))
    expect(error).toBeInstanceOf(InputError)
    expect((error as InputError).input).toBe('source')
    expect((error as InputError).message).toContain("'a.txt'")
  })

  it('sorts the result by local path whatever the pattern order', async () => {
    const { files } = await list(new FakeServer('/data', DATA), [
      '/data/sub/b.txt',
      '/data/other/e.txt',
      '/data/a.txt'
    ])
    expect(rels(files)).toEqual(['a.txt', 'b.txt', 'e.txt'])
  })
})
