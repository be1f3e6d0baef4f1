import { ListingCache } from '../../src/engine/listing-cache.js'
import type { RemoteEntry, SftpChannel } from '../../src/engine/sftp.js'

const file = (name: string): RemoteEntry => ({
  name,
  size: 1,
  mtime: 1,
  atime: 1,
  mode: 0o100644,
  isDirectory: false,
  isFile: true,
  isSymbolicLink: false
})

/** A channel listing folders from `tree`; a folder not in it does not exist. */
function lister(tree: Record<string, string[]>) {
  const asked: string[] = []
  const channel = {
    asked,
    readdir: async (path: string, onBatch?: (names: readonly string[]) => void) => {
      asked.push(path)
      const names = tree[path]
      if (!names) throw Object.assign(new Error('No such file'), { code: 2 })
      onBatch?.(names)
      return names.map(file)
    },
    stat: async () => {
      throw new Error('not used')
    }
  }
  return channel
}

describe('ListingCache.prefetch', () => {
  it('hands the walk a folder listed ahead instead of listing it again', async () => {
    const main = lister({ '/t/a': ['x'] })
    const spare = lister({ '/t/a': ['x', 'y'] })
    const cache = new ListingCache()
    cache.prefetch([spare as unknown as SftpChannel], ['/t/a'])
    expect(spare.asked).toEqual(['/t/a'])
    const counted: string[] = []
    const got = await cache
      .on(main as unknown as SftpChannel)
      .readdir('/t/a', n => counted.push(...n))
    expect(got.map(e => e.name)).toEqual(['x', 'y'])
    // Counted against the walk's limits all the same.
    expect(counted).toEqual(['x', 'y'])
    expect(main.asked).toEqual([])
  })

  it('lists again a folder whose listing ahead failed, and never uses one not asked for', async () => {
    const main = lister({ '/t/a': ['x'] })
    const spare = lister({})
    const cache = new ListingCache()
    cache.prefetch([spare as unknown as SftpChannel], ['/t/a', '/t/b'])
    const got = await cache.on(main as unknown as SftpChannel).readdir('/t/a')
    expect(got.map(e => e.name)).toEqual(['x'])
    expect(main.asked).toEqual(['/t/a'])
  })

  it('spreads the folders over the channels it is given', () => {
    const one = lister({})
    const two = lister({})
    const cache = new ListingCache()
    cache.prefetch([one, two] as unknown as SftpChannel[], ['/t/a', '/t/b', '/t/c'])
    expect(one.asked).toEqual(['/t/a', '/t/c'])
    expect(two.asked).toEqual(['/t/b'])
  })
})
