import {
  bigFileLanes,
  filesAtOnce,
  NEAR_LINK_FILES,
  VERY_NEAR_LINK_FILES
} from '../../src/engine/link-width.js'

describe('bigFileLanes', () => {
  it('uses two channels on a near link, where more would only cost memory', () => {
    expect(bigFileLanes(0.2, 8)).toBe(2)
    expect(bigFileLanes(5, 8)).toBe(2)
  })

  it('adds a channel per 5 ms of round trip, up to what the server allowed', () => {
    expect(bigFileLanes(20, 8)).toBe(4)
    expect(bigFileLanes(50, 8)).toBe(8)
    expect(bigFileLanes(50, 3)).toBe(3)
  })

  it('never asks for more channels than exist', () => {
    expect(bigFileLanes(0.1, 1)).toBe(1)
    expect(bigFileLanes(200, 2)).toBe(2)
  })
})

describe('filesAtOnce', () => {
  it('keeps a very near link to 128 files at once, whatever the handles allow', () => {
    expect(filesAtOnce(2000, 0.3)).toBe(VERY_NEAR_LINK_FILES)
    expect(filesAtOnce(2000, 6.2)).toBe(VERY_NEAR_LINK_FILES)
    expect(filesAtOnce(2000, 7.9)).toBe(VERY_NEAR_LINK_FILES)
    expect(filesAtOnce(100, 0.3)).toBe(100)
  })

  it('keeps a near link to 512 files at once, whatever the handles allow', () => {
    expect(filesAtOnce(2000, 8)).toBe(NEAR_LINK_FILES)
    expect(filesAtOnce(2000, 12.5)).toBe(NEAR_LINK_FILES)
    expect(filesAtOnce(2000, 19.9)).toBe(NEAR_LINK_FILES)
    expect(filesAtOnce(300, 12.5)).toBe(300)
  })

  it('gives a far link every place its handles allow', () => {
    expect(filesAtOnce(2000, 20)).toBe(2000)
    expect(filesAtOnce(2000, 50)).toBe(2000)
    expect(filesAtOnce(64, 50)).toBe(64)
  })
})
