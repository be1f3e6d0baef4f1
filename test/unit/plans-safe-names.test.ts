import * as path from 'node:path'
import { localPathInside, printableName, unsafeNameReason } from '../../src/plans/safe-names.js'

describe('unsafeNameReason', () => {
  it.each([
    ['', 'empty name'],
    ['.', "'.' is a directory reference"],
    ['..', "'..' is a directory reference"],
    ['a/b', 'contains /'],
    ['../etc', 'contains /'],
    ['/', 'contains /'],
    ['x\\y', 'contains \\'],
    ['..\\..\\win.ini', 'contains \\'],
    ['nul\0byte', 'contains NUL'],
    ['C:', 'looks like a drive path'],
    ['c:evil.txt', 'looks like a drive path'],
    ['line\nbreak', 'contains a control character'],
    ['::error::x\r', 'contains a control character'],
    ['tab\there', 'contains a control character'],
    ['\x1f', 'contains a control character'],
    ['del\x7f', 'contains a control character']
  ])('refuses %j: %s', (name, reason) => {
    expect(unsafeNameReason(name)).toBe(reason)
  })

  it.each([
    'file.txt',
    '.env',
    '...',
    '..hidden',
    'x..y',
    ' spaced ',
    'ünïcode',
    '1:2',
    'a b',
    'emoji 😀.txt',
    '~',
    'a\x80b'
  ])('accepts the plain name %j', name => {
    expect(unsafeNameReason(name)).toBeUndefined()
  })
})

describe('printableName', () => {
  it('leaves a plain name alone', () => {
    expect(printableName('report-2024.csv')).toBe('report-2024.csv')
    expect(printableName('/var/www/ünïcode.txt')).toBe('/var/www/ünïcode.txt')
  })

  it('escapes control characters so they cannot act on the log', () => {
    expect(printableName('a\nb')).toBe('a\\nb')
    expect(printableName('a\rb\tc')).toBe('a\\rb\\tc')
    expect(printableName('\u001b[31mred')).toBe('\\u001b[31mred')
    expect(printableName('nul\0x')).toBe('nul\\u0000x')
    expect(printableName('::error::x\n::warning::y')).not.toContain('\n')
  })

  it('doubles backslashes, so a shown \\n always means a newline', () => {
    expect(printableName('x\\y')).toBe('x\\\\y')
    expect(printableName('a\\nb')).toBe('a\\\\nb')
    expect(printableName('a\nb')).toBe('a\\nb')
  })

  it('never returns a control character', () => {
    const all = Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join('')
    const shown = printableName(`x${all}y`)
    expect([...shown].every(c => c.charCodeAt(0) >= 0x20)).toBe(true)
  })

  it('caps long names at 120 characters, marking the cut', () => {
    const shown = printableName('n'.repeat(500))
    expect(shown).toHaveLength(120)
    expect(shown.endsWith('...')).toBe(true)
    expect(printableName('n'.repeat(120))).toBe('n'.repeat(120))
  })

  it('counts escapes towards the cap', () => {
    expect(printableName('\n'.repeat(100))).toHaveLength(120)
  })
})

describe('localPathInside', () => {
  const root = path.resolve('/tmp/download-target')

  it('joins a nested relative path below the root', () => {
    expect(localPathInside(root, 'a.txt')).toBe(path.join(root, 'a.txt'))
    expect(localPathInside(root, 'a/b/c.txt')).toBe(path.join(root, 'a', 'b', 'c.txt'))
    expect(localPathInside(root, '.hidden/..x')).toBe(path.join(root, '.hidden', '..x'))
  })

  it('resolves a relative root first', () => {
    expect(localPathInside('target', 'a.txt')).toBe(path.resolve('target', 'a.txt'))
  })

  it.each(['..', '../x', 'a/../../x', 'a/..', 'a/./b', '.'])('refuses the reference %j', rel => {
    expect(localPathInside(root, rel)).toBeUndefined()
  })

  it.each(['/etc/passwd', '//x', 'a//b', 'a/', ''])('refuses empty parts in %j', rel => {
    expect(localPathInside(root, rel)).toBeUndefined()
  })

  it.each(['C:/x', 'a\\..\\..\\x', 'a/b\0c'])('refuses the unsafe part in %j', rel => {
    expect(localPathInside(root, rel)).toBeUndefined()
  })
})
