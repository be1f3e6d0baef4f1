import type { RemoteFile } from '../../src/plans/remote-files.js'
import { describeAge, newestFile } from '../../src/plans/select.js'

function file(path: string, mtime: number): RemoteFile {
  return { path, rel: path.split('/').pop() ?? path, size: 1, mtime }
}

describe('newestFile', () => {
  it('is undefined for no files', () => {
    expect(newestFile([])).toBeUndefined()
  })

  it('returns the only file', () => {
    const only = file('/b/x.tar', 5)
    expect(newestFile([only])).toBe(only)
  })

  it('picks the largest mtime wherever it is in the list', () => {
    const newest = file('/b/a-old-name.tar', 300)
    const others = [file('/b/z.tar', 100), file('/b/y.tar', 200), file('/b/x.tar', 299)]
    expect(newestFile([newest, ...others])).toBe(newest)
    expect(newestFile([...others, newest])).toBe(newest)
    expect(newestFile([others[0], newest, others[1], others[2]])).toBe(newest)
  })

  it('breaks ties by the later path, in either order', () => {
    const first = file('/b/backup-2024-01-01.tar', 100)
    const later = file('/b/backup-2024-01-02.tar', 100)
    expect(newestFile([first, later])).toBe(later)
    expect(newestFile([later, first])).toBe(later)
    expect(newestFile([file('/b/zzz.tar', 99), first, later])).toBe(later)
  })
})

describe('describeAge', () => {
  const now = 1_700_000_000_000
  const ago = (seconds: number) => now / 1000 - seconds

  it('counts minutes below an hour', () => {
    expect(describeAge(ago(0), now)).toBe('0 min')
    expect(describeAge(ago(59), now)).toBe('0 min')
    expect(describeAge(ago(60), now)).toBe('1 min')
    expect(describeAge(ago(59 * 60 + 59), now)).toBe('59 min')
  })

  it('shows hours and minutes below two days', () => {
    expect(describeAge(ago(3600), now)).toBe('1 h 0 min')
    expect(describeAge(ago(3 * 3600 + 5 * 60), now)).toBe('3 h 5 min')
    expect(describeAge(ago(47 * 3600 + 59 * 60), now)).toBe('47 h 59 min')
  })

  it('shows days and hours from two days on', () => {
    expect(describeAge(ago(48 * 3600), now)).toBe('2 d 0 h')
    expect(describeAge(ago(2 * 86400 + 4 * 3600 + 59 * 60), now)).toBe('2 d 4 h')
    expect(describeAge(ago(400 * 86400 + 23 * 3600), now)).toBe('400 d 23 h')
  })

  it('never shows a negative age for a file stamped in the future', () => {
    expect(describeAge(ago(-3600), now)).toBe('0 min')
  })
})
