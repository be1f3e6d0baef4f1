import { FolderTurns } from '../../src/engine/folder-turns.js'

/** `count` channels that may each hold `handles` handles. */
const lanes = (count: number, handles = 1000) =>
  Array.from({ length: count }, () => ({ maxOpenHandles: handles }))

describe('FolderTurns', () => {
  it('keeps a folder on one channel and gives new folders the least busy one', () => {
    const turns = new FolderTurns()
    // 4 channels, 16 files in flight: a channel may hold up to 8.
    expect(turns.take('a/1', lanes(4), 16).turn).toBe(0)
    expect(turns.take('b/1', lanes(4), 16).turn).toBe(1)
    expect(turns.take('a/2', lanes(4), 16).turn).toBe(0)
    expect(turns.take('c/1', lanes(4), 16).turn).toBe(2)
    expect(turns.take('d/1', lanes(4), 16).turn).toBe(3)
    expect(turns.take('e/1', lanes(4), 16).turn).toBe(1)
    expect(turns.take('b/2', lanes(4), 16).turn).toBe(1)
  })

  it('moves a folder once its channel holds twice its share, and counts what is given back', () => {
    const turns = new FolderTurns()
    const taken = Array.from({ length: 8 }, () => turns.take('flat/x', lanes(4), 16))
    expect(taken.map(t => t.turn)).toEqual([0, 0, 0, 0, 0, 0, 0, 0])
    expect(turns.take('flat/x', lanes(4), 16).turn).toBe(1)
    taken[0].give()
    taken[1].give()
    expect(turns.take('flat/x', lanes(4), 16).turn).toBe(1)
    expect(turns.take('other/x', lanes(4), 16).turn).toBe(2)
  })

  it('never gives a channel more than half its handle limit', () => {
    const turns = new FolderTurns()
    // 2 channels of 10 handles, 16 files in flight: 5 each, not 16.
    const taken = Array.from({ length: 10 }, () => turns.take('flat/x', lanes(2, 10), 16).turn)
    expect(taken).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
  })

  it('gives a new turn when the connection came back with fewer channels', () => {
    const turns = new FolderTurns()
    turns.take('a/1', lanes(4), 16)
    turns.take('b/1', lanes(4), 16)
    expect(turns.take('b/2', lanes(1), 16).turn).toBe(0)
  })
})
