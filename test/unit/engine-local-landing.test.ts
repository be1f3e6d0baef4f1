import { randomBytes } from 'node:crypto'
import * as fs from 'node:fs'
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { FolderCheck, landWhole } from '../../src/engine/local-landing.js'
import { ConnectionError } from '../../src/errors.js'
import { makeTempDir, removeTempDir } from '../support/tmp.js'

describe('landWhole: a small download written, given its attributes and renamed at once', () => {
  let dir: string
  beforeEach(() => {
    dir = makeTempDir('local-landing-')
  })
  afterEach(() => removeTempDir(dir))

  it('lands the bytes under the final name with the times and mode, leaving no temporary file', () => {
    const data = randomBytes(5000)
    const temp = path.join(dir, '.a.txt.0123abcd.sftp-part')
    const final = path.join(dir, 'a.txt')
    landWhole(temp, final, data, { atime: 1_600_000_000, mtime: 1_500_000_000, mode: 0o640 }, fs)
    // Read after the stat: reading may move the access time.
    const info = statSync(final)
    expect(info.mtimeMs).toBe(1_500_000_000_000)
    expect(info.atimeMs).toBe(1_600_000_000_000)
    expect(info.mode & 0o777).toBe(0o640)
    expect(readFileSync(final).equals(data)).toBe(true)
    expect(readdirSync(dir)).toEqual(['a.txt'])
  })

  it('without attributes the file keeps the private mode it was created with', () => {
    const final = path.join(dir, 'b.txt')
    landWhole(path.join(dir, '.b.txt.0123abcd.sftp-part'), final, Buffer.alloc(0), undefined, fs)
    expect(statSync(final).size).toBe(0)
    expect(statSync(final).mode & 0o777).toBe(0o600)
  })

  it('replaces an older file whole', () => {
    const final = path.join(dir, 'c.txt')
    writeFileSync(final, 'old content that is longer than the new one')
    landWhole(path.join(dir, '.c.txt.0123abcd.sftp-part'), final, Buffer.from('new'), undefined, fs)
    expect(readFileSync(final, 'utf8')).toBe('new')
  })

  it('throws when the folder is missing, and nothing appears under the final name', () => {
    const final = path.join(dir, 'missing', 'd.txt')
    expect(() =>
      landWhole(
        path.join(dir, 'missing', '.d.txt.0123abcd.sftp-part'),
        final,
        Buffer.from('x'),
        {
          mtime: 1
        },
        fs
      )
    ).toThrow(/ENOENT/)
    expect(existsSync(final)).toBe(false)
  })

  it('removes its temporary file when the landing fails after creating it', () => {
    const final = path.join(dir, 'e.txt')
    const temp = path.join(dir, '.e.txt.0123abcd.sftp-part')
    // A final name that is a non-empty folder: the temporary file is written, the rename fails.
    mkdirSync(path.join(final, 'inside'), { recursive: true })
    expect(() => landWhole(temp, final, Buffer.from('x'), undefined, fs)).toThrow()
    expect(existsSync(temp)).toBe(false)
    expect(statSync(final).isDirectory()).toBe(true)
  })
})

describe('FolderCheck: folders made for downloads, with the modes they get', () => {
  let dir: string
  beforeEach(() => {
    dir = makeTempDir('folder-check-')
  })
  afterEach(() => removeTempDir(dir))

  it("keeps a made folder's mode when asking the server for it failed once", async () => {
    let asked = 0
    const folders = new FolderCheck(dir, undefined, async rel => {
      if (rel === undefined) return undefined
      // The connection drops during the first question; the retry gets the answer.
      if (asked++ === 0) throw new ConnectionError('The connection was lost.', true)
      return 0o750
    })
    const sub = path.join(dir, 'a', 'b')
    await expect(folders.prove(sub)).rejects.toThrow(ConnectionError)
    // The folders are on disk now; a second check must still learn and apply their modes.
    expect(existsSync(sub)).toBe(true)
    await folders.prove(sub)
    await folders.applyModes()
    expect(statSync(sub).mode & 0o777).toBe(0o750)
    expect(statSync(path.join(dir, 'a')).mode & 0o777).toBe(0o750)
  })
})
