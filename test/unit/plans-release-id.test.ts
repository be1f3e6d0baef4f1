import { InputError } from '../../src/errors.js'
import {
  isGeneratedReleaseId,
  isReleaseId,
  makeReleaseId,
  MAX_RELEASE_ID_LENGTH,
  sortReleases,
  validateReleaseId
} from '../../src/plans/release-id.js'

const SHA = 'ABC1234def5678901234567890123456789abcde'

describe('makeReleaseId', () => {
  it('formats the UTC time to the millisecond, zero-padded, then the random part', () => {
    expect(makeReleaseId(new Date('2026-11-25T16:01:02.999Z'), undefined, '0a1b2c')).toBe(
      '20261125T160102.999Z-0a1b2c'
    )
    expect(makeReleaseId(new Date('2027-01-05T03:04:05+02:00'), undefined, 'ffffff')).toBe(
      '20270105T010405.000Z-ffffff'
    )
  })

  it('appends the first 7 characters of the sha, lower-cased', () => {
    expect(makeReleaseId(new Date('2026-11-25T16:01:02Z'), SHA, '0a1b2c')).toBe(
      '20261125T160102.000Z-0a1b2c-abc1234'
    )
  })

  it('treats an empty or blank sha as none', () => {
    const now = new Date('2026-11-25T16:01:02Z')
    expect(makeReleaseId(now, '', '0a1b2c')).toBe('20261125T160102.000Z-0a1b2c')
    expect(makeReleaseId(now, '  ', '0a1b2c')).toBe('20261125T160102.000Z-0a1b2c')
  })

  it('refuses a sha that could change the path', () => {
    expect(() => makeReleaseId(new Date(), '../../etc')).toThrow(/sha/)
  })

  it('always produces an ID that validates and is recognised as generated', () => {
    for (const sha of [SHA, undefined]) {
      const id = makeReleaseId(new Date(), sha)
      expect(validateReleaseId(id, 'release-id')).toBe(id)
      expect(isReleaseId(id)).toBe(true)
      expect(isGeneratedReleaseId(id)).toBe(true)
    }
  })

  it('never repeats for one commit in the same millisecond', () => {
    const now = new Date('2026-11-25T16:01:02.345Z')
    // 20,000 draws of six hex digits would almost surely repeat one, were repeats not drawn again.
    const made = new Set(Array.from({ length: 20_000 }, () => makeReleaseId(now, SHA)))
    expect(made.size).toBe(20_000)
  })

  it('sorts by time first, whatever the random part and the sha', () => {
    const earlier = makeReleaseId(new Date('2026-11-25T16:01:02.345Z'), 'fffffff', 'ffffff')
    const later = makeReleaseId(new Date('2026-11-25T16:01:02.346Z'), '0000000', '000000')
    const nextSecond = makeReleaseId(new Date('2026-11-25T16:01:03.000Z'), undefined, '000000')
    expect(sortReleases([earlier, nextSecond, later])).toEqual([nextSecond, later, earlier])
  })
})

describe('isGeneratedReleaseId', () => {
  it.each([
    '20261125T160102.345Z-0a1b2c-abc1234',
    '20261125T160102.345Z-0a1b2c',
    // What earlier versions generated: their releases stay prunable.
    '20261125T160102Z-abc1234',
    '20261125T160102Z'
  ])('recognises %j', id => expect(isGeneratedReleaseId(id)).toBe(true))

  it.each([
    '1.0.0',
    '2019-backup',
    'shared',
    'v2',
    '20261125T160102Z-hotfix',
    '20261125T160102Z-abc1234-x',
    '20261125T160102.345Z',
    '20261125T160102.345Z-0A1B2C',
    '20261125T160102.345Z-0a1b2c-abc1234-more',
    '2026112T160102Z',
    '20261125T160102Z\n',
    '.20261125T160102Z'
  ])('does not take %j for its own', id => expect(isGeneratedReleaseId(id)).toBe(false))
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
