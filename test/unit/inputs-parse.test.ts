import { InputError } from '../../src/errors.js'
import {
  parseHost,
  parseHostList,
  parseIntegerInput,
  parseSources,
  splitLines
} from '../../src/inputs/parse.js'
import { thrown } from './real-keys.js'

/** The InputError fn throws; fails the test when it throws something else or nothing. */
function inputError(fn: () => unknown): InputError {
  const error = thrown(fn)
  expect(error).toBeInstanceOf(InputError)
  return error as InputError
}

function expectInputError(fn: () => unknown, input: string, fragment?: string | RegExp): void {
  const error = inputError(fn)
  expect(error.input).toBe(input)
  expect(error.message).toContain(`Input '${input}'`)
  expect(error.title).toBe(`Invalid input '${input}'`)
  if (fragment !== undefined) expect(error.message).toMatch(fragment)
}

describe('splitLines', () => {
  it('trims every line and drops blank ones, for LF and CRLF input', () => {
    expect(splitLines('  a  \r\n\r\n b\n\n\t\nc\t')).toEqual(['a', 'b', 'c'])
  })

  it('returns nothing for an empty or blank input', () => {
    expect(splitLines('')).toEqual([])
    expect(splitLines(' \n \r\n ')).toEqual([])
  })
})

describe('parseSources', () => {
  it('splits includes from ! excludes, keeping the order given', () => {
    expect(parseSources('dist/\n!*.map\nREADME.md\n!  tmp/ ', 'source')).toEqual({
      include: ['dist/', 'README.md'],
      exclude: ['*.map', 'tmp/']
    })
  })

  it('refuses a line holding only !', () => {
    expectInputError(() => parseSources('dist\n!', 'source'), 'source', /only '!'/)
    expectInputError(() => parseSources('dist\n!   ', 'source'), 'source', /only '!'/)
  })

  it('refuses an input with nothing to include', () => {
    expectInputError(() => parseSources('', 'source'), 'source', /nothing to transfer/)
    expectInputError(() => parseSources('!*.log\n!tmp', 'source'), 'source', /nothing to transfer/)
  })

  it('refuses a NUL character', () => {
    expectInputError(() => parseSources('a\0b', 'source'), 'source', /NUL/)
  })

  it('names the input it was given', () => {
    expectInputError(() => parseSources('', 'remote-source'), 'remote-source')
  })
})

describe('parseIntegerInput', () => {
  const rule = { fallback: 22, min: 1, max: 65535 }

  it('uses the fallback when the input is blank', () => {
    expect(parseIntegerInput('', 'port', rule)).toBe(22)
    expect(parseIntegerInput('   ', 'port', rule)).toBe(22)
  })

  it('accepts whole numbers inside the range, boundaries included', () => {
    expect(parseIntegerInput(' 2222 ', 'port', rule)).toBe(2222)
    expect(parseIntegerInput('1', 'port', rule)).toBe(1)
    expect(parseIntegerInput('65535', 'port', rule)).toBe(65535)
  })

  it.each(['abc', '22a', '-1', '+22', '2.5', '1e3', '0x16', '2 2'])(
    'refuses %j as not a whole number',
    raw => {
      expectInputError(() => parseIntegerInput(raw, 'port', rule), 'port', /not a whole number/)
    }
  )

  it.each(['0', '65536', '99999999999'])('refuses %j as out of range', raw => {
    expectInputError(() => parseIntegerInput(raw, 'port', rule), 'port', /out of range.*1 to 65535/)
  })
})

describe('parseHost', () => {
  it('accepts host names and IPv4 addresses as given', () => {
    expect(parseHost('example.com', 'host')).toBe('example.com')
    expect(parseHost('  sftp-01.example_net.org ', 'host')).toBe('sftp-01.example_net.org')
    expect(parseHost('192.0.2.7', 'host')).toBe('192.0.2.7')
  })

  it('accepts IPv6 literals with and without brackets, removing the brackets', () => {
    expect(parseHost('::1', 'host')).toBe('::1')
    expect(parseHost('[::1]', 'host')).toBe('::1')
    expect(parseHost('2001:db8::10', 'host')).toBe('2001:db8::10')
    expect(parseHost('[2001:db8::10]', 'host')).toBe('2001:db8::10')
  })

  it('refuses a missing host', () => {
    expectInputError(() => parseHost('', 'host'), 'host', /required/)
    expectInputError(() => parseHost('  ', 'host'), 'host', /required/)
  })

  it('refuses a host with a port, pointing at the port input', () => {
    expectInputError(() => parseHost('example.com:2222', 'host'), 'host', /'port' input/)
    expectInputError(() => parseHost('[::1]:22', 'host'), 'host', /'port' input/)
  })

  it.each(['exa mple.com', 'example.com\tx', 'deploy@example.com', 'a.com,b.com', 'sftp://x'])(
    'refuses %j as not a host name',
    raw => {
      expectInputError(() => parseHost(raw, 'host'), 'host', /not a host name or IP address/)
    }
  )

  it('refuses characters no host name has', () => {
    expectInputError(() => parseHost('exa!mple.com', 'host'), 'host', /not a valid host name/)
    expectInputError(() => parseHost('ex\0ample', 'host'), 'host')
  })
})

describe('parseHostList', () => {
  it('reads one server per line or comma, with the default port', () => {
    expect(parseHostList('a.example.com, b.example.com\n c.example.com ', 'host', 2222)).toEqual([
      { host: 'a.example.com', port: 2222 },
      { host: 'b.example.com', port: 2222 },
      { host: 'c.example.com', port: 2222 }
    ])
  })

  it('takes a port after a name or a bracketed IPv6 address', () => {
    expect(parseHostList('a.example.com:2200\n[2001:db8::1]:2201\n[::1]', 'host', 22)).toEqual([
      { host: 'a.example.com', port: 2200 },
      { host: '2001:db8::1', port: 2201 },
      { host: '::1', port: 22 }
    ])
  })

  it('reads a bare IPv6 address as a host, not as host:port', () => {
    expect(parseHostList('2001:db8::22', 'host', 22)).toEqual([{ host: '2001:db8::22', port: 22 }])
  })

  it('refuses an empty list, a bad port and a repeated server', () => {
    expectInputError(() => parseHostList(' \n, ', 'host', 22), 'host', /required/)
    expectInputError(() => parseHostList('a.example.com:70000', 'host', 22), 'host', /out of range/)
    expectInputError(
      () => parseHostList('a.example.com:22, a.example.com', 'host', 22),
      'host',
      /listed twice/
    )
  })

  it('names the input it was given', () => {
    expectInputError(() => parseHostList('bad host', 'target-host', 22), 'target-host')
  })
})
