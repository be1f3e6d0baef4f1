import { SETTLE_MS, settledKey, statKey, type StatLike } from '../../src/plans/stat-key.js'

const NOW = 1_800_000_000_000
const info: StatLike = { dev: 2049, ino: 1234567, mtimeMs: NOW - 60_000.25, ctimeMs: NOW - 5000.75 }

describe('statKey', () => {
  it('differs when any of device, inode, modification or change time differs', () => {
    const key = statKey(info)
    expect(statKey({ ...info })).toBe(key)
    for (const other of [
      { ...info, dev: 2050 },
      { ...info, ino: 1234568 },
      { ...info, mtimeMs: info.mtimeMs + 1 },
      { ...info, ctimeMs: info.ctimeMs + 1 }
    ])
      expect(statKey(other)).not.toBe(key)
  })

  it('is short: about 30 characters for today’s times', () => {
    expect(statKey(info).length).toBeLessThan(32)
  })
})

describe('settledKey', () => {
  const key = (ctimeMs: number) => statKey({ ...info, ctimeMs })

  it('keeps a key whose change time lies SETTLE_MS or more before the read', () => {
    expect(settledKey(key(NOW - SETTLE_MS), NOW)).toBe(key(NOW - SETTLE_MS))
    expect(settledKey(key(NOW - 3_600_000), NOW)).toBe(key(NOW - 3_600_000))
  })

  // The same clock tick could hold a later edit that leaves the key as it is.
  it('drops a key changed shortly before the read, or after it', () => {
    expect(settledKey(key(NOW - SETTLE_MS + 1), NOW)).toBeUndefined()
    expect(settledKey(key(NOW - 10), NOW)).toBeUndefined()
    expect(settledKey(key(NOW + 5000), NOW)).toBeUndefined()
  })

  it('covers file systems that keep change times in whole seconds', () => {
    expect(SETTLE_MS).toBeGreaterThan(1000)
  })

  // FAT and exFAT keep no change time: an edit restoring the mtime would leave the key as is.
  it('keeps no key from a file system that shows no change time', () => {
    expect(settledKey(key(0), NOW)).toBeUndefined()
  })

  it('has nothing to keep without a key, and refuses one it cannot read', () => {
    expect(settledKey(undefined, NOW)).toBeUndefined()
    expect(settledKey('1:2:3:', NOW)).toBeUndefined()
  })
})
