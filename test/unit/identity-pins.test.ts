import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { InputError } from '../../src/errors.js'
import {
  judgeHostKey,
  parsePins,
  pinnedKeyTypes,
  pinsForHost,
  type Pin
} from '../../src/identity/pins.js'

const KEYGEN = '/usr/bin/ssh-keygen'
const INPUT = 'fingerprint'

/** A real key made by ssh-keygen, with what OpenSSH itself says about it. */
interface RealKey {
  file: string
  /** The .pub line, comment included */
  pub: string
  /** `keytype base64`, as in known_hosts */
  key: string
  blob: Buffer
  keyType: string
  /** Full `ssh-keygen -l` output line, and the fingerprints from it */
  listing: string
  md5Listing: string
  sha256: string
  md5: string
}

let dir: string
let counter = 0

function makeKey(args: string[]): RealKey {
  const file = join(dir, `k${counter++}`)
  execFileSync(KEYGEN, ['-q', ...args, '-N', '', '-C', 'ci key@example', '-f', file])
  const pub = readFileSync(`${file}.pub`, 'utf8').trim()
  const [keyType, base64] = pub.split(' ')
  const listing = keygen(['-lf', `${file}.pub`]).trim()
  const md5Listing = keygen(['-E', 'md5', '-lf', `${file}.pub`]).trim()
  return {
    file,
    pub,
    key: `${keyType} ${base64}`,
    blob: Buffer.from(base64, 'base64'),
    keyType,
    listing,
    md5Listing,
    sha256: listing.split(' ')[1],
    md5: md5Listing.split(' ')[1]
  }
}

function keygen(args: string[]): string {
  return execFileSync(KEYGEN, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

let ed: RealKey
let ed2: RealKey
let ec256: RealKey
let ec384: RealKey
let ec521: RealKey
let rsa: RealKey
let dsa: RealKey

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'identity-pins-'))
  ed = makeKey(['-t', 'ed25519'])
  ed2 = makeKey(['-t', 'ed25519'])
  ec256 = makeKey(['-t', 'ecdsa', '-b', '256'])
  ec384 = makeKey(['-t', 'ecdsa', '-b', '384'])
  ec521 = makeKey(['-t', 'ecdsa', '-b', '521'])
  rsa = makeKey(['-t', 'rsa', '-b', '2048'])
  dsa = makeKey(['-t', 'dsa'])
})

afterAll(() => rmSync(dir, { recursive: true, force: true }))

function parse(text: string): Pin[] {
  return parsePins(text, INPUT)
}

function accepts(pins: Pin[], key: RealKey): boolean {
  return judgeHostKey(pins, key.blob).accepted
}

/** Parse, expecting an InputError that names the input and (when given) the line. */
function parseError(text: string, line?: number): string {
  let caught: unknown
  try {
    parse(text)
  } catch (error) {
    caught = error
  }
  expect(caught).toBeInstanceOf(InputError)
  const error = caught as InputError
  expect(error.input).toBe(INPUT)
  expect(error.message).toContain(`Input '${INPUT}'`)
  if (line !== undefined) expect(error.message).toContain(`line ${line}:`)
  return error.message
}

describe('bare SHA256 fingerprints', () => {
  test('with the SHA256: prefix, as ssh-keygen -l prints it', () => {
    const [pin] = parse(ed.sha256)
    expect(pin).toMatchObject({ form: 'sha256', value: ed.sha256.slice(7), revoked: false })
    expect(pin.keyType).toBeUndefined()
    expect(pin.hosts).toBeUndefined()
    expect(accepts([pin], ed)).toBe(true)
    expect(accepts([pin], ed2)).toBe(false)
  })

  test('with = padding, without the prefix, and both', () => {
    const digest = ed.sha256.slice(7)
    for (const text of [`${ed.sha256}=`, digest, `${digest}=`, `sha256:${digest}`]) {
      const pins = parse(text)
      expect(pins[0].value).toBe(digest)
      expect(accepts(pins, ed)).toBe(true)
    }
  })

  test('base64 comparison is case-sensitive', () => {
    const digest = ed.sha256.slice(7)
    const at = digest.search(/[A-Za-z]/)
    const flipped =
      digest[at] === digest[at].toUpperCase() ? digest[at].toLowerCase() : digest[at].toUpperCase()
    const pins = parse(`SHA256:${digest.slice(0, at)}${flipped}${digest.slice(at + 1)}`)
    expect(accepts(pins, ed)).toBe(false)
  })

  test('blank lines, # comments, indentation, CRLF and a trailing # comment are tolerated', () => {
    const text = `\r\n  # production server\r\n\t ${ed.sha256}   # ed25519\r\n\r\n   \r\n${rsa.sha256}\r\n`
    const pins = parse(text)
    expect(pins.map(p => p.line)).toEqual([3, 6])
    expect(accepts(pins, ed)).toBe(true)
    expect(accepts(pins, rsa)).toBe(true)
    expect(accepts(pins, ed2)).toBe(false)
  })
})

describe('MD5 fingerprints', () => {
  test('with the prefix, upper case, and without the prefix', () => {
    const hex = ed.md5.slice(4)
    for (const text of [ed.md5, `MD5:${hex.toUpperCase()}`, hex, hex.toUpperCase()]) {
      const [pin] = parse(text)
      expect(pin).toMatchObject({ form: 'md5', value: hex.replace(/:/g, '') })
      expect(accepts([pin], ed)).toBe(true)
      expect(accepts([pin], ed2)).toBe(false)
    }
  })
})

describe('ssh-keygen -l lines', () => {
  test.each([
    ['ed25519', 'ssh-ed25519'],
    ['ecdsa 256', 'ecdsa-sha2-nistp256'],
    ['ecdsa 384', 'ecdsa-sha2-nistp384'],
    ['ecdsa 521', 'ecdsa-sha2-nistp521'],
    ['rsa', 'ssh-rsa'],
    ['dsa', 'ssh-dss']
  ])('%s: takes the fingerprint and the type', (name, keyType) => {
    const key = {
      ed25519: ed,
      'ecdsa 256': ec256,
      'ecdsa 384': ec384,
      'ecdsa 521': ec521,
      rsa,
      dsa
    }[name]!
    for (const listing of [key.listing, key.md5Listing]) {
      const [pin] = parse(listing)
      expect(pin.keyType).toBe(keyType)
      expect(pin.form).toBe(listing === key.listing ? 'sha256' : 'md5')
      expect(pin.hosts).toBeUndefined()
      expect(accepts([pin], key)).toBe(true)
    }
  })

  test('a typed pin rejects a key of another type even when the fingerprint matches', () => {
    const pins = parse(`256 ${ed.sha256} mislabelled (RSA)`)
    expect(pins[0].keyType).toBe('ssh-rsa')
    const verdict = judgeHostKey(pins, ed.blob)
    expect(verdict).toMatchObject({ accepted: false, revoked: false, keyType: 'ssh-ed25519' })
  })

  test('the comment is never a host pattern (ssh-keygen -lf known_hosts puts hosts there)', () => {
    const file = join(dir, 'listing_known_hosts')
    writeFileSync(file, `only.example.com ${ed.key}\n`)
    const listing = keygen(['-lf', file]).trim()
    expect(listing).toContain('only.example.com')
    const pins = parse(listing)
    expect(pins[0].hosts).toBeUndefined()
    expect(pinsForHost(pins, 'other.example.net', 2222)).toHaveLength(1)
  })
})

describe('.pub lines', () => {
  test('pin the whole key blob, typed, with or without a comment', () => {
    for (const key of [ed, ec256, ec384, ec521, rsa, dsa]) {
      for (const text of [key.pub, key.key]) {
        const [pin] = parse(text)
        expect(pin).toMatchObject({ form: 'key', value: key.blob.toString('base64') })
        expect(pin.keyType).toBe(key.keyType)
        expect(pin.hosts).toBeUndefined()
        expect(accepts([pin], key)).toBe(true)
        expect(accepts([pin], ed2)).toBe(false)
      }
    }
  })
})

describe('known_hosts and ssh-keyscan lines', () => {
  const queries: Array<[string, number]> = [
    ['example.com', 22],
    ['EXAMPLE.com', 22],
    ['example.com', 2222],
    ['example.com', 2200],
    ['a.foo.org', 22],
    ['bad.foo.org', 22],
    ['a.foo.org', 2222],
    ['web1.example.net', 22],
    ['web10.example.net', 22],
    ['db.internal', 5022],
    ['db.internal', 22],
    ['192.0.2.7', 22],
    ['192.0.2.7', 8022],
    ['2001:db8::1', 22],
    ['2001:db8::1', 2222],
    ['unknown.example', 22]
  ]

  /** Line numbers `ssh-keygen -F` reports for a host, i.e. OpenSSH's own host matching. */
  function openSshMatches(file: string, host: string, port: number): number[] {
    // ssh lowercases the host before looking it up; ssh-keygen -F does not, which matters
    // for hashed entries, so hand it the name ssh would look up.
    const lower = host.toLowerCase()
    const name = port === 22 ? lower : `[${lower}]:${port}`
    let out = ''
    try {
      out = execFileSync(KEYGEN, ['-F', name, '-f', file], { encoding: 'utf8' })
    } catch (error) {
      out = (error as { stdout: string }).stdout // exit status 1 means "not found"
    }
    return [...out.matchAll(/found: line (\d+)/g)].map(m => Number(m[1]))
  }

  function knownHostsText(): string {
    return [
      `# a comment, then plain, listed, wildcard and negated patterns`,
      `example.com,192.0.2.7 ${ed.key} comment here`,
      `[example.com]:2222 ${ec256.key}`,
      `*.foo.org,!bad.foo.org ${rsa.key}`,
      `web?.example.net ${ec384.key}`,
      `[*.internal]:* ${ec521.key}`,
      `[192.0.2.7]:8022,2001:db8::1 ${ed2.key}`,
      `[2001:db8::1]:2222 ${dsa.key}`,
      `@revoked example.com ${ed2.key}`,
      ''
    ].join('\n')
  }

  test('host matching agrees with ssh-keygen -F (ports, lists, wildcards, negation)', () => {
    const file = join(dir, 'known_hosts_plain')
    writeFileSync(file, knownHostsText())
    const pins = parse(readFileSync(file, 'utf8'))
    for (const [host, port] of queries) {
      const ours = pinsForHost(pins, host, port).map(p => p.line)
      expect({ host, port, lines: ours }).toEqual({
        host,
        port,
        lines: openSshMatches(file, host, port)
      })
    }
  })

  test('hashed entries written by ssh-keygen -H agree with ssh-keygen -F', () => {
    const file = join(dir, 'known_hosts_hashed')
    writeFileSync(
      file,
      [
        `example.com,192.0.2.7 ${ed.key}`,
        `[example.com]:2222 ${ec256.key}`,
        `[2001:db8::1]:2222 ${dsa.key}`,
        `@revoked db.internal ${ed2.key}`
      ].join('\n') + '\n'
    )
    keygen(['-H', '-f', file])
    const hashed = readFileSync(file, 'utf8')
    expect(hashed).not.toContain('example.com')
    const pins = parse(hashed)
    // ssh-keygen -H hashes every entry except @revoked ones, which it leaves as written.
    const hashedPins = pins.filter(p => !p.revoked)
    expect(hashedPins).toHaveLength(4)
    expect(hashedPins.every(p => p.hosts?.length === 1 && p.hosts[0].startsWith('|1|'))).toBe(true)
    for (const [host, port] of [...queries, ['db.internal', 22] as [string, number]]) {
      const ours = pinsForHost(pins, host, port).map(p => p.line)
      expect({ host, port, lines: ours }).toEqual({
        host,
        port,
        lines: openSshMatches(file, host, port)
      })
    }
    expect(accepts(pinsForHost(pins, 'example.com', 2222), ec256)).toBe(true)
    expect(accepts(pinsForHost(pins, 'example.com', 22), ec256)).toBe(false)
    expect(judgeHostKey(pinsForHost(pins, 'db.internal', 22), ed2.blob)).toMatchObject({
      accepted: false,
      revoked: true
    })
  })

  test('a plain host pattern means port 22 only; [host]:port means that port only', () => {
    const pins = parse(`example.com ${ed.key}\n[example.com]:2222 ${rsa.key}`)
    expect(pinsForHost(pins, 'example.com', 22).map(p => p.keyType)).toEqual(['ssh-ed25519'])
    expect(pinsForHost(pins, 'example.com', 2222).map(p => p.keyType)).toEqual(['ssh-rsa'])
    expect(pinsForHost(pins, 'example.com', 2200)).toEqual([])
    expect(pinsForHost(pins, 'other.com', 22)).toEqual([])
  })

  test('bracketed IPv6 hosts are looked up like bare ones', () => {
    const pins = parse(`[2001:db8::1]:2222 ${ed.key}`)
    expect(pinsForHost(pins, '[2001:db8::1]', 2222)).toHaveLength(1)
    expect(pinsForHost(pins, '2001:db8::1', 2222)).toHaveLength(1)
  })

  test('bare pins apply to every host and port', () => {
    const pins = parse(`${ed.sha256}\nexample.com ${rsa.key}`)
    expect(pinsForHost(pins, 'anything.example', 2222).map(p => p.line)).toEqual([1])
    expect(pinsForHost(pins, 'example.com', 22).map(p => p.line)).toEqual([1, 2])
  })

  test('ssh-keyscan output (comment lines included) parses as known_hosts lines', () => {
    const banner = '# example.com:22 SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10'
    const text = [ed, ec256, rsa].map(k => `${banner}\nexample.com ${k.key}`).join('\n')
    const pins = pinsForHost(parse(text), 'example.com', 22)
    expect(pins).toHaveLength(3)
    expect(pinnedKeyTypes(pins)).toEqual(['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ssh-rsa'])
    for (const key of [ed, ec256, rsa]) expect(accepts(pins, key)).toBe(true)
    expect(accepts(pins, ed2)).toBe(false)
  })
})

describe('revocation', () => {
  test('a revoked key is refused even when another line allows it', () => {
    for (const allow of [ed.sha256, ed.pub, `example.com ${ed.key}`, ed.listing]) {
      const pins = pinsForHost(parse(`${allow}\n@revoked example.com ${ed.key}`), 'example.com', 22)
      expect(judgeHostKey(pins, ed.blob)).toMatchObject({
        accepted: false,
        revoked: true,
        fingerprint: ed.sha256,
        keyType: 'ssh-ed25519'
      })
    }
  })

  test('a revocation for another host does not apply', () => {
    const pins = pinsForHost(
      parse(`${ed.sha256}\n@revoked other.example ${ed.key}`),
      'example.com',
      22
    )
    expect(judgeHostKey(pins, ed.blob).accepted).toBe(true)
  })

  test('@revoked also works before a bare pin, for every host', () => {
    const pins = parse(`example.com ${ed.key}\n@revoked ${ed.sha256}`)
    expect(pins[1].revoked).toBe(true)
    expect(judgeHostKey(pinsForHost(pins, 'example.com', 22), ed.blob)).toMatchObject({
      accepted: false,
      revoked: true
    })
  })
})

describe('judgeHostKey', () => {
  test('reports the accepting pin, the fingerprint and the key type', () => {
    const pins = parse(`${ed2.sha256}\n${rsa.pub}`)
    const verdict = judgeHostKey(pins, rsa.blob)
    expect(verdict).toMatchObject({ accepted: true, fingerprint: rsa.sha256, keyType: 'ssh-rsa' })
    expect(verdict.accepted && verdict.pin.line).toBe(2)
  })

  test('is deterministic across repeated calls (rekeys)', () => {
    const pins = parse(ed.md5)
    const first = judgeHostKey(pins, ed.blob)
    expect(judgeHostKey(pins, ed.blob)).toEqual(first)
    expect(first.accepted).toBe(true)
  })

  test('refuses an unreadable blob without throwing', () => {
    const verdict = judgeHostKey(parse(ed.sha256), Buffer.from([1, 2, 3]))
    expect(verdict.accepted).toBe(false)
  })

  test('no pins, no acceptance', () => {
    expect(judgeHostKey([], ed.blob)).toMatchObject({ accepted: false, revoked: false })
  })
})

describe('pinnedKeyTypes', () => {
  test("typed pins give their types in ssh2's preference order, once each", () => {
    const pins = parse([dsa.pub, rsa.listing, ec384.pub, ed.listing, ed.md5Listing].join('\n'))
    expect(pinnedKeyTypes(pins)).toEqual([
      'ssh-ed25519',
      'ecdsa-sha2-nistp384',
      'ssh-rsa',
      'ssh-dss'
    ])
  })

  test('any untyped usable pin means every type must be tried', () => {
    expect(pinnedKeyTypes(parse(`${ed.pub}\n${rsa.sha256}`))).toBeUndefined()
    expect(pinnedKeyTypes(parse(`${ed.pub}\n${rsa.md5}`))).toBeUndefined()
  })

  test('revoked pins do not count', () => {
    expect(pinnedKeyTypes(parse(`${ed.pub}\n@revoked ${rsa.sha256}`))).toEqual(['ssh-ed25519'])
    expect(pinnedKeyTypes(parse(`${ed.pub}\n@revoked ${rsa.pub}`))).toEqual(['ssh-ed25519'])
    expect(pinnedKeyTypes([])).toEqual([])
  })
})

describe('labels', () => {
  test('name the line and never carry the whole fingerprint or blob', () => {
    const pins = parse([ed.sha256, ed.md5, rsa.pub, `@revoked host ${ed2.key}`].join('\n'))
    const [sha, md5, pub, revoked] = pins.map(p => p.label)
    expect(sha).toBe(`${ed.sha256.slice(0, 19)}… (line 1)`)
    expect(md5).toBe(`${ed.md5.slice(0, 15)}… (line 2)`)
    expect(pub).toBe(`ssh-rsa ${rsa.sha256.slice(0, 19)}… (line 3)`)
    expect(revoked).toBe(`@revoked ssh-ed25519 ${ed2.sha256.slice(0, 19)}… (line 4)`)
    expect(pub).not.toContain(rsa.key.split(' ')[1].slice(0, 30))
  })
})

describe('malformed input', () => {
  test('an unrecognised line names the line, lists the forms and echoes at most 20 chars', () => {
    const message = parseError(`${ed.sha256}\nhello this is not a pin secret-tail-XYZ`, 2)
    expect(message).toContain('"hello this is not a …"')
    expect(message).not.toContain('secret-tail-XYZ')
    expect(message).toMatch(/SHA256.*MD5.*ssh-keygen -l.*ssh-ed25519 AAAA.*known_hosts/)
  })

  test.each([
    ['SHA256 too short', 'SHA256:abcdef', /43 base64 characters/],
    ['SHA256 too long', 'SHA256:' + 'A'.repeat(44), /43 base64 characters/],
    ['SHA256 bad character', 'SHA256:' + '-'.repeat(43), /43 base64 characters/],
    ['MD5 too short', 'MD5:aa:bb:cc', /16 hex pairs/],
    ['MD5 not hex', 'MD5:' + Array(16).fill('zz').join(':'), /16 hex pairs/],
    ['bare base64 of the wrong length', 'A'.repeat(42), /is not a host key pin/],
    ['keygen line without a type', '256 SHA256:' + 'A'.repeat(43) + ' comment', /\(TYPE\)/],
    [
      'keygen line of an SK key',
      '256 SHA256:' + 'A'.repeat(43) + ' c (ED25519-SK)',
      /not supported/
    ],
    ['keygen ECDSA of odd size', '200 SHA256:' + 'A'.repeat(43) + ' c (ECDSA)', /not supported/],
    ['unknown marker', '@trusted example.com ssh-ed25519 AAAA', /only @revoked/],
    ['lonely @revoked', '@revoked', /must be followed/],
    ['key type ssh2 cannot use', 'sk-ssh-ed25519@openssh.com AAAAGnNr', /not supported/],
    ['host certificate', 'ssh-ed25519-cert-v01@openssh.com AAAA', /certificates/],
    ['PEM block', '-----BEGIN OPENSSH PRIVATE KEY-----', /PEM key block.*never a private key/]
  ])('%s', (_name, text, pattern) => {
    expect(parseError(`# first line is a comment\n${text}`, 2)).toMatch(pattern)
  })

  test('a non-canonical last base64 character is refused', () => {
    const digest = ed.sha256.slice(7)
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
    const bumped = alphabet[alphabet.indexOf(digest[42]) + 1]
    expect(parseError(`SHA256:${digest.slice(0, 42)}${bumped}`, 1)).toMatch(/43 base64/)
  })

  test('.pub and known_hosts key problems', () => {
    const [, edBase64] = ed.key.split(' ')
    expect(parseError(`ssh-rsa ${edBase64}`, 1)).toMatch(/says ssh-rsa.*is ssh-ed25519/)
    expect(parseError(`host ssh-rsa ${edBase64}`, 1)).toMatch(/says ssh-rsa.*is ssh-ed25519/)
    expect(parseError(`ssh-ed25519 ${edBase64.slice(0, -8)}`, 1)).toMatch(/damaged/)
    expect(parseError(`ssh-ed25519 ${edBase64.slice(0, 20)}*${edBase64.slice(21)}`, 1)).toMatch(
      /not valid base64/
    )
    expect(parseError(`ssh-ed448 ${edBase64}`, 1)).toMatch(/ssh-ed448 is not supported/)
  })

  test('known_hosts host field problems', () => {
    expect(parseError(`|1|abc|def ${ed.key}`, 1)).toMatch(/hashed host name/)
    expect(parseError(`a.example,,b.example ${ed.key}`, 1)).toMatch(/empty pattern/)
    expect(parseError(`a.example,! ${ed.key}`, 1)).toMatch(/empty pattern/)
  })

  test('@cert-authority is refused: certificates are not supported', () => {
    const message = parseError(`${ed.sha256}\n@cert-authority *.example.com ${ed.key}`, 2)
    expect(message).toMatch(/@cert-authority.*not supported.*certificates/)
  })

  test.each([
    ['empty', ''],
    ['whitespace', '  \n\t\r\n'],
    ['only comments', '# example.com:22 SSH-2.0-OpenSSH_9.2p1\n# nothing else']
  ])('no pins at all (%s) says a pin is required and how to get one', (_name, text) => {
    const message = parseError(text)
    expect(message).toContain('required')
    expect(message).toContain('ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub')
    expect(message).toContain('ssh-keyscan -p PORT HOST')
  })

  test('only revoked pins is refused', () => {
    expect(parseError(`@revoked example.com ${ed.key}`)).toMatch(/every line is @revoked/)
  })
})
