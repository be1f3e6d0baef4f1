import { expectedFromSidecar, parseChecksums } from '../../src/plans/checksums.js'

const A = 'a'.repeat(64)
const B = '0123456789abcdef'.repeat(4)
const C = 'c'.repeat(64)

describe('parseChecksums', () => {
  it('reads sha256sum text mode lines (two spaces)', () => {
    const sums = parseChecksums(`${A}  app.tar.gz\n${B}  docs/readme.md\n`)
    expect(sums).toEqual(
      new Map([
        ['app.tar.gz', A],
        ['docs/readme.md', B]
      ])
    )
  })

  it('reads sha256sum binary mode lines (space, asterisk)', () => {
    expect(parseChecksums(`${A} *app.bin`)).toEqual(new Map([['app.bin', A]]))
  })

  it('drops a leading ./ from names', () => {
    expect(parseChecksums(`${A}  ./app.bin\n${B} *./dir/x`)).toEqual(
      new Map([
        ['app.bin', A],
        ['dir/x', B]
      ])
    )
  })

  it('stores a bare hash under the empty name', () => {
    expect(parseChecksums(`${A}\n`)).toEqual(new Map([['', A]]))
    expect(parseChecksums(`  ${A}  \r\n`)).toEqual(new Map([['', A]]))
  })

  it('skips comments, blank lines and lines that are not checksums', () => {
    const text = [
      '# made by CI',
      '',
      '   ',
      `${A}  a.txt`,
      `# ${B}  commented.txt`,
      'SHA256 (bsd.txt) = ' + C,
      `${'d'.repeat(63)}  short.txt`,
      `${'e'.repeat(65)}  long.txt`,
      `${'z'.repeat(64)}  nothex.txt`,
      `${B}  b.txt`
    ].join('\n')
    expect(parseChecksums(text)).toEqual(
      new Map([
        ['a.txt', A],
        ['bsd.txt', C],
        ['b.txt', B]
      ])
    )
  })

  it('normalizes uppercase hex to lowercase', () => {
    expect(parseChecksums(`${B.toUpperCase()}  x.bin`).get('x.bin')).toBe(B)
    expect(parseChecksums('ABCDEF'.repeat(10) + 'ABCD').get('')).toBe('abcdef'.repeat(10) + 'abcd')
  })

  it('handles CRLF line endings and names with spaces', () => {
    const sums = parseChecksums(`${A}  my file.txt\r\n${B} *other name.bin\r\n`)
    expect(sums.get('my file.txt')).toBe(A)
    expect(sums.get('other name.bin')).toBe(B)
  })

  it('returns an empty map for empty text', () => {
    expect(parseChecksums('').size).toBe(0)
  })
})

describe('parseChecksums, BSD form', () => {
  it('reads sha256sum --tag lines', () => {
    expect(
      parseChecksums(`SHA256 (app.bin) = ${A}\nSHA256 (./dir/x y) = ${B.toUpperCase()}`)
    ).toEqual(
      new Map([
        ['app.bin', A],
        ['dir/x y', B]
      ])
    )
  })
})

describe('expectedFromSidecar', () => {
  const sums = new Map([
    ['app.bin', B],
    ['other.bin', C]
  ])

  it("prefers the file's own NAME.sha256 over SHA256SUMS", () => {
    const own = parseChecksums(`${A}  app.bin`)
    expect(expectedFromSidecar('app.bin', own, sums)).toEqual({
      hash: A,
      source: 'app.bin.sha256'
    })
  })

  it('accepts an own sidecar that holds only the digest', () => {
    const own = parseChecksums(A)
    expect(expectedFromSidecar('app.bin', own, sums)).toEqual({
      hash: A,
      source: 'app.bin.sha256'
    })
  })

  it('falls back to SHA256SUMS without an own sidecar', () => {
    expect(expectedFromSidecar('app.bin', undefined, sums)).toEqual({
      hash: B,
      source: 'SHA256SUMS'
    })
  })

  it('refuses an own sidecar that names another file only: it must vouch for this one', () => {
    const own = parseChecksums(`${A}  unrelated.bin`)
    expect(expectedFromSidecar('app.bin', own, sums)).toEqual({
      unusable: expect.stringContaining('app.bin.sha256 holds no SHA-256 for app.bin')
    })
    expect(expectedFromSidecar('app.bin', new Map(), sums)).toEqual({
      unusable: expect.stringContaining('app.bin.sha256')
    })
  })

  it('reads an own sidecar written with a path (sha256sum build/app.bin > app.bin.sha256)', () => {
    const own = parseChecksums(`${A}  build/app.bin`)
    expect(expectedFromSidecar('app.bin', own, sums)).toEqual({
      hash: A,
      source: 'app.bin.sha256'
    })
  })

  it('takes only the exact name from SHA256SUMS: a path there is another file', () => {
    const pathed = parseChecksums(`${A}  dist/app.bin\n${B}  other.bin`)
    expect(expectedFromSidecar('app.bin', undefined, pathed)).toBeUndefined()
    expect(expectedFromSidecar('other.bin', undefined, pathed)).toEqual({
      hash: B,
      source: 'SHA256SUMS'
    })
  })

  it('says nothing when neither mentions the file', () => {
    expect(expectedFromSidecar('missing.bin', undefined, sums)).toBeUndefined()
    expect(expectedFromSidecar('missing.bin', undefined, new Map())).toBeUndefined()
    expect(expectedFromSidecar('app.bin', undefined, undefined)).toBeUndefined()
  })
})
