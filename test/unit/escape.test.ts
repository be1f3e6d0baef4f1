import { forLog, forSummary } from '../../src/escape.js'
import { parseRunnerLine, runnerCommands } from '../support/runner-commands.js'

/** Text a hostile server or a pull request can put into a name, a link or a message. */
const VECTORS = [
  'a\n::error title=Deploy::forged',
  'a\r::add-mask::secret',
  'a\r\n::warning::x',
  'a\u2028::error::x',
  'a\u2029::error::x',
  'a\u0085::error::x',
  '::add-mask::secret',
  '::error file=x,line=1::forged',
  '::stop-commands::token',
  '   ::add-mask::secret',
  '\t::add-mask::secret',
  '\u3000\u00a0::add-mask::secret',
  '\u200b::add-mask::x',
  ':\u00ad:add-mask::x',
  '::ADD-MASK::x',
  'x ##[add-mask]secret',
  '##[error]forged',
  '###[warning]x',
  '#\u200b#[error]x',
  'x\n##[group]y',
  '\u001b[8mhidden\u001b[0m',
  'nul\0x'
]

/** Where a caller may put the text in a line: alone, first, after spaces, inside. */
const PLACEMENTS: Array<(text: string) => string> = [
  t => t,
  t => `${t} (12 B)`,
  t => `  create  ${t} (12 B)`,
  t => `Removed ${t}, left by an earlier run.`
]

const INVISIBLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]/u

describe('forLog', () => {
  it.each(VECTORS)('%j never makes a line the runner reads as a command', vector => {
    for (const place of PLACEMENTS) {
      const line = place(forLog(vector))
      expect(runnerCommands(line)).toEqual([])
      expect(line).not.toMatch(/[\r\n]/)
      expect(line).not.toMatch(INVISIBLE)
    }
  })

  it('the model of the runner does see these vectors unescaped', () => {
    // Guards the test above: the vectors really are commands when printed raw. (The runner
    // ends lines at CR and LF only; the others are escaped so the log reads as it will be read.)
    const raw = VECTORS.filter(
      v => ![...'\u200b\u00ad\u001b\0\u2028\u2029\u0085'].some(c => v.includes(c))
    )
    for (const vector of raw) {
      const found = PLACEMENTS.some(place => runnerCommands(place(vector)).length > 0)
      expect([vector, found]).toEqual([vector, true])
    }
  })

  it('shows control and invisible characters as visible escapes', () => {
    expect(forLog('a\nb')).toBe('a\\nb')
    expect(forLog('a\rb\tc')).toBe('a\\rb\\tc')
    expect(forLog('\u001b[31mred')).toBe('\\u001b[31mred')
    expect(forLog('nul\0x')).toBe('nul\\u0000x')
    expect(forLog('a\u2028b\u0085c')).toBe('a\\u2028b\\u0085c')
    expect(forLog('zero\u200bwidth\u00adsoft')).toBe('zero\\u200bwidth\\u00adsoft')
    expect(forLog('tag\u{e0001}')).toBe('tag\\u{e0001}')
    expect(forLog('lone\ud800')).toBe('lone\\ud800')
  })

  it('breaks a leading :: and every ##[ visibly', () => {
    expect(forLog('::add-mask::x')).toBe('\\u003a:add-mask::x')
    expect(forLog('  ::error::x')).toBe('  \\u003a:error::x')
    expect(forLog('x ##[error]y')).toBe('x #\\u0023[error]y')
    expect(forLog('a\n::error::x')).toBe('a\\n::error::x')
  })

  it('leaves ordinary names, paths and addresses alone', () => {
    for (const plain of [
      'site/index.html',
      '/var/www/ünïcode 2024 (final) [1].txt',
      '[::1]:2222',
      'C:\\Users\\runner\\a.txt',
      'ssh-ed25519 SHA256:AbC+/x',
      'x::y',
      '# not at the start: fine in a log'
    ]) {
      expect(forLog(plain)).toBe(plain)
    }
  })

  it('gives the same text back when applied twice, so whole messages can be escaped again', () => {
    for (const vector of VECTORS) expect(forLog(forLog(vector))).toBe(forLog(vector))
  })
})

describe('parseRunnerLine (the model used by these tests)', () => {
  it('reads v2 commands after leading white space, and ##[ anywhere', () => {
    expect(parseRunnerLine('::add-mask::x')?.command).toBe('add-mask')
    expect(parseRunnerLine('   ::error::x')?.command).toBe('error')
    expect(parseRunnerLine('text ##[warning]x')?.command).toBe('warning')
    expect(parseRunnerLine('text ::error::x')).toBeUndefined()
    expect(parseRunnerLine('::unknown::x')).toBeUndefined()
  })
})

/** What a browser shows for summary text: character references decoded, nothing else. */
function decode(html: string): string {
  return html.replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)))
}

const SUMMARY_VECTORS = [
  'a\n\n# Owned\n',
  'cell | injected | row',
  '<script>alert(1)</script>',
  '<img src=x onerror="alert(1)">',
  '# heading',
  '[click](http://evil.example/)',
  '![i](http://evil.example/i.png)',
  '`code` and ```fence```',
  '**bold** _em_ ~~strike~~',
  '$x^2$ math',
  '&lt;b&gt; already an entity',
  'back\\slash',
  'a\r\nb\u2028c'
]

describe('forSummary', () => {
  it.each(SUMMARY_VECTORS)('%j renders as plain text', vector => {
    const shown = forSummary(vector)
    expect(shown).not.toMatch(/[\r\n]/)
    expect(shown).not.toMatch(INVISIBLE)
    // Nothing left that Markdown or HTML could read as syntax.
    expect(shown.replace(/&#\d+;/g, '')).not.toMatch(/[&<>"'`|*_[\]()#!~$\\]/)
    // And a reader sees exactly the text, its unprintable characters spelled out.
    expect(decode(shown)).toBe(forLog(vector))
  })

  it('uses numeric character references', () => {
    expect(forSummary('<img src=x onerror="alert(1)">')).toBe(
      '&#60;img src=x onerror=&#34;alert&#40;1&#41;&#34;&#62;'
    )
    expect(forSummary("a & b's")).toBe('a &#38; b&#39;s')
    expect(forSummary('&lt;')).toBe('&#38;lt;')
    expect(forSummary('a|b')).toBe('a&#124;b')
    expect(forSummary('two\n\nlines')).toBe('two&#92;n&#92;nlines')
  })

  it('leaves plain names, addresses and fingerprints readable', () => {
    for (const plain of [
      'dist/app.js',
      '127.0.0.1:2222',
      'ssh-ed25519 SHA256:AbC+/x09=',
      '/var/www/ünïcode-2024.txt'
    ]) {
      expect(forSummary(plain)).toBe(plain)
    }
  })
})
