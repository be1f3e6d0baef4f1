import { jest } from '@jest/globals'

const info = jest.fn<(message: string) => void>()
jest.unstable_mockModule('@actions/core', () => ({ info }))

const { Progress, formatBytes } = await import('../../src/report/progress.js')

const KiB = 1024
const MiB = 1024 * KiB
const GiB = 1024 * MiB

/** A clock the test moves by hand. */
function clock(start = 1_000_000) {
  let now = start
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms
    },
    start
  }
}

beforeEach(() => info.mockClear())

describe('formatBytes', () => {
  it('shows whole bytes below 1 KiB', () => {
    expect(formatBytes(0)).toBe('0 B')
    expect(formatBytes(1)).toBe('1 B')
    expect(formatBytes(1023)).toBe('1023 B')
  })

  it('uses binary units with one decimal above', () => {
    expect(formatBytes(KiB)).toBe('1.0 KiB')
    expect(formatBytes(1536)).toBe('1.5 KiB')
    expect(formatBytes(MiB - 1)).toBe('1024.0 KiB')
    expect(formatBytes(MiB)).toBe('1.0 MiB')
    expect(formatBytes(2.25 * MiB)).toBe('2.3 MiB')
    expect(formatBytes(5 * GiB)).toBe('5.0 GiB')
    expect(formatBytes(3 * 1024 * GiB)).toBe('3.0 TiB')
  })

  it('stops at TiB', () => {
    expect(formatBytes(2048 * 1024 * GiB)).toBe('2048.0 TiB')
  })

  it('rounds a fractional byte count (a rate) to whole bytes', () => {
    expect(formatBytes(100 / 3)).toBe('33 B')
    expect(formatBytes(1023.6)).toBe('1.0 KiB')
  })
})

describe('Progress', () => {
  it('says how far along it is, how fast, and how long is left', () => {
    const c = clock()
    const progress = new Progress(4 * MiB, 5000, c.now)
    c.advance(2000)
    progress.add(MiB)
    expect(progress.line(c.start + 2000)).toBe(
      '1.0 MiB of 4.0 MiB (25%), 512.0 KiB/s, about 6 s left'
    )
  })

  it('logs at most once per interval', () => {
    const c = clock()
    const progress = new Progress(100 * MiB, 5000, c.now)
    c.advance(4999)
    progress.add(MiB)
    expect(info).not.toHaveBeenCalled()

    c.advance(1)
    progress.add(MiB)
    expect(info).toHaveBeenCalledTimes(1)
    expect(info).toHaveBeenLastCalledWith(progress.line(c.start + 5000))
    expect(info.mock.calls[0][0]).toMatch(/^2\.0 MiB of 100\.0 MiB \(2%\)/)

    for (let i = 0; i < 10; i++) {
      c.advance(400)
      progress.add(KiB)
    }
    expect(info).toHaveBeenCalledTimes(1)

    c.advance(1000)
    progress.add(KiB)
    expect(info).toHaveBeenCalledTimes(2)
  })

  it('never logs for a transfer shorter than the interval', () => {
    const c = clock()
    const progress = new Progress(10 * MiB, 5000, c.now)
    for (let i = 0; i < 10; i++) {
      c.advance(100)
      progress.add(MiB)
    }
    expect(info).not.toHaveBeenCalled()
  })

  it('measures the interval from the last log, not from the start', () => {
    const c = clock()
    const progress = new Progress(MiB, 1000, c.now)
    c.advance(1500)
    progress.add(1)
    c.advance(600)
    progress.add(1)
    expect(info).toHaveBeenCalledTimes(1)
    c.advance(400)
    progress.add(1)
    expect(info).toHaveBeenCalledTimes(2)
  })

  it('copes with nothing moved yet and with an empty total', () => {
    const c = clock()
    expect(new Progress(MiB, 5000, c.now).line(c.start)).toBe(
      '0 B of 1.0 MiB (0%), 0 B/s, about 0 s left'
    )
    expect(new Progress(0, 5000, c.now).line(c.start + 1000)).toMatch(/^0 B of 0 B \(100%\)/)
  })
})
