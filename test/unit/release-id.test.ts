import { InputError } from '../../src/errors.js'
import {
  isReleaseId,
  makeReleaseId,
  MAX_RELEASE_ID_LENGTH,
  sortReleases,
  validateReleaseId
} from '../../src/plans/release-id.js'

const SHA = 'ABC1234def5678901234567890123456789abcde'

describe('makeReleaseId', () => {
  it('formats the UTC time, zero-padded, without milliseconds', () => {
    expect(makeReleaseId(new Date('2026-11-25T16:01:02.999Z'), undefined)).toBe('20261125T160102Z')
    expect(makeReleaseId(new Date('2027-01-05T03:04:05+02:00'), undefined)).toBe('20270105T010405Z')
  })

  it('appends the first 7 characters of the sha, lower-cased', () => {
    expect(makeReleaseId(new Date('2026-11-25T16:01:02Z'), SHA)).toBe('20261125T160102Z-abc1234')
  })

  it('treats an empty or blank sha as none', () => {
    const now = new Date('2026-11-25T16:01:02Z')
    expect(makeReleaseId(now, '')).toBe('20261125T160102Z')
    expect(makeReleaseId(now, '  ')).toBe('20261125T160102Z')
  })

  it('refuses a sha that could change the path', () => {
    expect(() => makeReleaseId(new Date(), '../../etc')).toThrow(/sha/)
  })

  it('always produces an ID that validates', () => {
    const id = makeReleaseId(new Date(), SHA)
    expect(validateReleaseId(id, 'release-id')).toBe(id)
    expect(isReleaseId(id)).toBe(true)
  })
})

describe('validateReleaseId', () => {
  it.each(['20261125T160102Z', '20261125T160102Z-hotfix_2', 'v1.2.3', 'a', 'x'.repeat(100)])(
    'accepts %j',
    id => {
      expect(validateReleaseId(id, 'release-id')).toBe(id)
      expect(isReleaseId(id)).toBe(true)
    }
  )

  it.each([
    ['', /empty/],
    ['.', /directory reference/],
    ['..', /directory reference/],
    ['.hidden', /must not start with '\.'/],
    ['a/b', /may only contain/],
    ['../x', /may only contain/],
    ['a\\b', /may only contain/],
    ['with space', /may only contain/],
    ['nul\0', /may only contain/],
    ['ünï', /may only contain/],
    ['line\nbreak', /may only contain/],
    ['x'.repeat(MAX_RELEASE_ID_LENGTH + 1), /at most 100/]
  ])('refuses %j, naming the input', (id, why) => {
    let thrown: unknown
    try {
      validateReleaseId(id, 'release-id')
    } catch (err) {
      thrown = err
    }
    expect(thrown).toBeInstanceOf(InputError)
    const error = thrown as InputError
    expect(error.input).toBe('release-id')
    expect(error.message).toMatch(/^Input 'release-id': /)
    expect(error.message).toMatch(why)
    expect(error.message).not.toContain('\n')
    expect(isReleaseId(id)).toBe(false)
  })
})

describe('sortReleases', () => {
  it('puts the newest generated ID first', () => {
    const times = ['2026-11-25T16:01:02Z', '2025-12-31T23:59:59Z', '2026-11-25T09:00:00Z']
    const ids = times.map(t => makeReleaseId(new Date(t), SHA))
    expect(sortReleases(ids)).toEqual([ids[0], ids[2], ids[1]])
  })

  it('sorts by code unit, not locale, and does not modify its argument', () => {
    const names = ['20261125T160102Z', '20261125T160102Z-abc1234', '20261125T160101Z-fff0000']
    const copy = [...names]
    expect(sortReleases(names)).toEqual([
      '20261125T160102Z-abc1234',
      '20261125T160102Z',
      '20261125T160101Z-fff0000'
    ])
    expect(names).toEqual(copy)
    expect(sortReleases(['a', 'B', 'b', 'A'])).toEqual(['b', 'a', 'B', 'A'])
  })

  it('ranks a user ID without a time prefix above every generated one', () => {
    // Documented pitfall: pruning keeps the greatest names.
    expect(sortReleases(['20261125T160102Z', 'v2'])[0]).toBe('v2')
  })
})
