import { parseSha256sumOutput } from '../../src/plans/sha256sum-output.js'

const A = 'a'.repeat(64)
const B = '0123456789abcdef'.repeat(4)

describe('parseSha256sumOutput', () => {
  it('reads text and binary mode lines for the paths asked', () => {
    const out = `${A}  /srv/www/a.html\n${B} */srv/www/b.bin\n`
    expect(parseSha256sumOutput(out, ['/srv/www/a.html', '/srv/www/b.bin'])).toEqual(
      new Map([
        ['/srv/www/a.html', A],
        ['/srv/www/b.bin', B]
      ])
    )
  })

  it('leaves out a path with no line (unreadable or vanished on the server)', () => {
    const hashes = parseSha256sumOutput(`${A}  /w/a\n`, ['/w/a', '/w/b'])
    expect(hashes.has('/w/b')).toBe(false)
    expect(hashes.get('/w/a')).toBe(A)
  })

  it('ignores lines for paths nobody asked for', () => {
    const out = `${A}  /w/a\n${B}  /w/other\n${B}  /w/a \n`
    expect(parseSha256sumOutput(out, ['/w/a'])).toEqual(new Map([['/w/a', A]]))
  })

  it('refuses uppercase, short, long and non-hex hashes', () => {
    const paths = ['/w/upper', '/w/short', '/w/long', '/w/nonhex']
    const out =
      `${'A'.repeat(64)}  /w/upper\n${'a'.repeat(63)}  /w/short\n` +
      `${'a'.repeat(65)}  /w/long\n${'g'.repeat(64)}  /w/nonhex\n`
    expect(parseSha256sumOutput(out, paths).size).toBe(0)
  })

  it('refuses a single space, a tab or a missing name as the separator', () => {
    const out = `${A} /w/a\n${A}\t/w/a\n${A}  \n${A}`
    expect(parseSha256sumOutput(out, ['/w/a', ''])).toEqual(new Map())
  })

  it('trusts neither of two lines naming the same path, even when they agree', () => {
    expect(parseSha256sumOutput(`${A}  /w/a\n${B}  /w/a\n`, ['/w/a']).size).toBe(0)
    expect(parseSha256sumOutput(`${A}  /w/a\n${A}  /w/a\n`, ['/w/a']).size).toBe(0)
  })

  it("undoes GNU sha256sum's escaping of newline, CR and backslash in names", () => {
    const newline = '/w/line\nbreak'
    const backslash = '/w/back\\slash'
    const cr = '/w/carriage\rreturn'
    const out = `\\${A}  /w/line\\nbreak\n\\${B}  /w/back\\\\slash\n\\${A}  /w/carriage\\rreturn\n`
    expect(parseSha256sumOutput(out, [newline, backslash, cr])).toEqual(
      new Map([
        [newline, A],
        [backslash, B],
        [cr, A]
      ])
    )
  })

  it('does not read an unescaped name with a newline (split over two lines) as hashed', () => {
    const name = '/w/line\nbreak'
    expect(parseSha256sumOutput(`${A}  ${name}\n`, [name]).size).toBe(0)
  })

  it('does not take an escaped line for the literal name, nor an unknown escape', () => {
    // Without the leading backslash the name is literal: "\n" stays two characters.
    expect(parseSha256sumOutput(`${A}  /w/a\\nb\n`, ['/w/a\nb']).size).toBe(0)
    expect(parseSha256sumOutput(`${A}  /w/a\\nb\n`, ['/w/a\\nb']).get('/w/a\\nb')).toBe(A)
    expect(parseSha256sumOutput(`\\${A}  /w/a\\tb\n`, ['/w/a\tb', '/w/a\\tb']).size).toBe(0)
    expect(parseSha256sumOutput(`\\${A}  /w/a\\\n`, ['/w/a\\', '/w/a']).size).toBe(0)
  })

  it('ignores noise a login script or a lying server prints around the lines', () => {
    const out = `Welcome!\n\n${A}  /w/a\r\n  ${B}  /w/b\nsha256sum: /w/c: No such file\n`
    expect(parseSha256sumOutput(out, ['/w/a', '/w/b', '/w/c']).size).toBe(0)
  })
})
