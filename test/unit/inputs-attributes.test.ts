import { describeAttributes, parseChmod, parsePreserve } from '../../src/inputs/attributes.js'
import { InputError } from '../../src/errors.js'
import { readSettings } from '../../src/inputs/settings.js'

function thrown(fn: () => unknown): InputError {
  try {
    fn()
  } catch (err) {
    if (err instanceof InputError) return err
    throw err
  }
  throw new Error('did not throw')
}

describe('preserve', () => {
  it.each([
    ['', { times: true, mode: false }],
    ['times', { times: true, mode: false }],
    ['mode', { times: false, mode: true }],
    ['times,mode', { times: true, mode: true }],
    [' Mode , TIMES ', { times: true, mode: true }],
    ['none', { times: false, mode: false }]
  ])('%j', (raw, expected) => {
    expect(parsePreserve(raw)).toEqual(expected)
  })

  it.each(['owner', 'times,perms', 'none,times', 'times;mode'])(
    'refuses %j, naming the input',
    raw => {
      const err = thrown(() => parsePreserve(raw))
      expect(err.input).toBe('preserve')
      expect(err.message).toMatch(/Input 'preserve'.*times and mode/)
    }
  )
})

describe('chmod', () => {
  it.each([
    ['', {}],
    ['D755,F644', { dirs: 0o755, files: 0o644 }],
    ['F600', { files: 0o600 }],
    ['D750', { dirs: 0o750 }],
    [' f640 , d0750 ', { dirs: 0o750, files: 0o640 }]
  ])('%j', (raw, expected) => {
    expect(parseChmod(raw)).toEqual(expected)
  })

  it.each([
    ['755', /not understood/],
    ['D755,F64', /not understood/],
    ['u+rwx', /not understood/],
    ['F888', /not understood/],
    ['D755,D700', /given twice/],
    ['F4755', /setuid, setgid or sticky/],
    ['D1777', /setuid, setgid or sticky/]
  ])('refuses %j with one error naming the input and an example', (raw, why) => {
    const err = thrown(() => parseChmod(raw))
    expect(err.input).toBe('chmod')
    expect(err.message).toMatch(why)
    expect(err.message).toContain('D755,F644')
  })

  it('shows a hostile value escaped', () => {
    expect(thrown(() => parseChmod('F6\n::error::x')).message).not.toContain('\n')
  })
})

describe('settings', () => {
  const env = { workspace: '/ws', tempDir: '/tmp' }
  const reader =
    (inputs: Record<string, string>) =>
    (name: string): string =>
      inputs[name] ?? ''
  const base = {
    host: 'example.com',
    username: 'u',
    password: 'p',
    fingerprint: 'SHA256:' + 'A'.repeat(43),
    target: '/srv/site'
  }

  it('reads preserve and chmod together; chmod is described as winning', () => {
    const settings = readSettings(
      reader({ ...base, source: 'dist', preserve: 'times,mode', chmod: 'F600' }),
      env
    )
    expect(settings.attributes).toEqual({ times: true, mode: true, chmod: { files: 0o600 } })
    expect(describeAttributes(settings.attributes)).toMatch(/files set to 600 \(chmod\)/)
    expect(describeAttributes(settings.attributes)).toMatch(/source folder's mode/)
  })

  it('keeps times by default', () => {
    const settings = readSettings(reader({ ...base, source: 'dist' }), env)
    expect(settings.attributes).toEqual({ times: true, mode: false, chmod: {} })
    expect(settings).toMatchObject({ direction: 'upload', rollback: false })
  })

  it('rollback needs no source', () => {
    const settings = readSettings(reader({ ...base, rollback: 'true' }), env)
    expect(settings).toMatchObject({ direction: 'upload', rollback: true })
    expect(settings.source.include).toEqual([])
  })

  it.each([
    [{ direction: 'download' }, /upload targets/],
    [{ sync: 'changed' }, /'sync'/],
    [{ delete: 'true' }, /'delete'/],
    [{ 'release-id': '20261125T160102Z' }, /'release-id'/],
    [{ rollback: 'yes' }, /not a boolean/]
  ])('rollback refuses %j', (extra, why) => {
    const err = thrown(() =>
      readSettings(reader({ ...base, rollback: 'true', source: 'x', ...extra }), env)
    )
    expect(err.input).toBe('rollback')
    expect(err.message).toMatch(why)
  })
})
