import { parseState, serializeState, StateFormatError } from '../../src/plans/state-format.js'
import type { StateEntry, SyncState } from '../../src/plans/sync.js'

const SHA_A = 'a'.repeat(64)
const SHA_B = '0123456789abcdef'.repeat(4)
const MTIME = 1_700_000_000
const entry: StateEntry = { sha256: SHA_A, size: 10, mtime: MTIME }

function state(files: Record<string, StateEntry>): SyncState {
  return { files: new Map(Object.entries(files)) }
}

describe('serializeState / parseState (version 2)', () => {
  it('round-trips every entry exactly, odd names included', () => {
    const original = state({
      'index.html': entry,
      'a/b.css': { sha256: SHA_B, size: 0, mtime: 1 },
      'tab\tand "quote"': entry,
      'ünïcödé/名前.txt': entry
    })
    original.files.set('__proto__', { sha256: SHA_B, size: 2 ** 40, mtime: MTIME + 1 })
    const text = serializeState(original)
    expect(JSON.parse(text).version).toBe(2)
    expect(parseState(text)).toEqual(original)
  })

  it('takes well under 100 bytes a file besides the path', () => {
    const files: Record<string, StateEntry> = {}
    for (let i = 0; i < 1000; i++) files[`d${i % 20}/f${i}.html`] = { ...entry, size: 1234 }
    const text = serializeState(state(files))
    const paths = Object.keys(files).reduce((n, rel) => n + rel.length, 0)
    expect((text.length - paths) / 1000).toBeLessThan(75)
  })

  it('drops rows that do not make sense and keeps the rest', () => {
    const digest = Buffer.from(SHA_A, 'hex').toString('base64')
    const good = ['good', digest, 10, MTIME]
    const text = JSON.stringify({
      version: 2,
      files: [
        good,
        ['short', 'abc', 10, MTIME],
        ['unpadded', `${digest.slice(0, 43)}A`, 10, MTIME],
        ['space', ` ${digest.slice(1)}`, 10, MTIME],
        ['pad-inside', `${digest.slice(0, 20)}=${digest.slice(21)}`, 10, MTIME],
        ['not-base64', `${digest.slice(0, 20)}!${digest.slice(21)}`, 10, MTIME],
        ['base64url', `${digest.slice(0, 20)}-${digest.slice(21)}`, 10, MTIME],
        ['base64url2', `_${digest.slice(1)}`, 10, MTIME],
        ['digest-number', 5, 10, MTIME],
        ['size', good[1], '10', MTIME],
        ['negative', good[1], -1, MTIME],
        ['fraction', good[1], 1.5, MTIME],
        ['huge', good[1], 2 ** 60, MTIME],
        ['mtime-null', good[1], 10, null],
        ['mtime', good[1], 10, 'x'],
        [5, good[1], 10, MTIME],
        ['extra', good[1], 10, MTIME, 1],
        null,
        'x'
      ]
    })
    expect(parseState(text)).toEqual(state({ good: entry }))
  })
})

describe('parseState (version 1, written by earlier releases)', () => {
  it('reads a valid state', () => {
    const text = JSON.stringify({ version: 1, files: { 'index.html': entry, 'a/b.css': entry } })
    expect(parseState(text)).toEqual(state({ 'index.html': entry, 'a/b.css': entry }))
  })

  it('drops entries with a bad hash, size or mtime and keeps the rest', () => {
    const text = JSON.stringify({
      version: 1,
      files: {
        good: entry,
        short: { ...entry, sha256: 'abc' },
        upper: { ...entry, sha256: 'A'.repeat(64) },
        strsize: { ...entry, size: '10' },
        nomtime: { sha256: SHA_A, size: 10 },
        nullentry: null
      }
    })
    expect(parseState(text)).toEqual(state({ good: entry }))
  })
})

describe('parseState: unusable text is an error that says why', () => {
  it.each([
    ['', /not valid JSON/],
    ['{', /not valid JSON/],
    ['null', /format/],
    ['[]', /format/],
    ['{"version":3,"files":[]}', /version 3/],
    ['{"version":1,"files":[]}', /version 1/],
    ['{"version":2,"files":{}}', /version 2/]
  ])('%j', (text, reason) => {
    expect(() => parseState(text)).toThrow(StateFormatError)
    expect(() => parseState(text)).toThrow(reason)
  })
})
