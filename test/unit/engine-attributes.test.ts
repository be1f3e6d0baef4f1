import * as path from 'node:path'
import {
  fileAttributes,
  folderMode,
  remoteAttributes,
  sourceFolders
} from '../../src/engine/attributes.js'

const source = { atime: 1700000000.9, mtime: 1600000000.5, mode: 0o104755 }
const keep = (times: boolean, mode: boolean, chmod = {}) => ({ times, mode, chmod })

describe('file attributes', () => {
  it('times only by default, whole seconds', () => {
    expect(fileAttributes(keep(true, false), source)).toEqual({
      atime: 1700000000,
      mtime: 1600000000
    })
  })

  it('mode keeps the permission bits only, never setuid, setgid or sticky', () => {
    expect(fileAttributes(keep(false, true), source)).toEqual({ mode: 0o755 })
    expect(fileAttributes(keep(false, true), { ...source, mode: 0o7777 })).toEqual({ mode: 0o777 })
  })

  it('chmod F wins over preserve: mode', () => {
    expect(fileAttributes(keep(false, true, { files: 0o600 }), source)).toEqual({ mode: 0o600 })
    expect(fileAttributes(keep(false, false, { dirs: 0o700 }), source)).toBeUndefined()
  })

  it('a server that reports no mode gives none to keep', () => {
    expect(fileAttributes(keep(false, true), remoteAttributes({ mtime: 5 }))).toBeUndefined()
    expect(remoteAttributes({ mtime: 5 })).toEqual({ atime: 5, mtime: 5 })
  })
})

describe('folder modes', () => {
  it('chmod D wins; preserve: mode asks the source; otherwise none', async () => {
    let asked = 0
    const ask = async () => {
      asked++
      return 0o42775
    }
    expect(await folderMode(keep(true, true, { dirs: 0o750 }), ask)).toBe(0o750)
    expect(asked).toBe(0)
    expect(await folderMode(keep(true, true), ask)).toBe(0o775)
    expect(await folderMode(keep(true, false), ask)).toBeUndefined()
    expect(await folderMode(keep(true, true), undefined)).toBeUndefined()
  })

  it('finds the source folder behind each target folder', () => {
    const folders = sourceFolders(
      [
        { path: '/src/site/a/b/f.txt', rel: 'a/b/f.txt' },
        { path: '/other/x/g.txt', rel: 'x/g.txt' },
        { path: '/top.txt', rel: 'top.txt' }
      ],
      path.posix.dirname
    )
    expect(Object.fromEntries(folders)).toEqual({
      'a/b': '/src/site/a/b',
      a: '/src/site/a',
      x: '/other/x'
    })
  })
})
