import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { totals, writeOutputs, writeSummary } from '../../src/report/outputs.js'
import { HostKeyError } from '../../src/errors.js'
import { refusedHostReport, type FileResult, type RunReport } from '../../src/report/types.js'

function report(files: FileResult[]): RunReport {
  return { direction: 'upload', hosts: [], files, durationMs: 1000 }
}

describe('totals', () => {
  it('counts only files that were transferred', () => {
    const files: FileResult[] = [
      { source: 'a', target: '/t/a', size: 100, status: 'transferred' },
      { source: 'b', target: '/t/b', size: 2000, status: 'failed', error: 'boom' },
      { source: 'c', target: '', size: 30000, status: 'refused', error: 'hostile' },
      { source: 'd', target: '/t/d', size: 5, status: 'transferred' }
    ]
    expect(totals(report(files))).toMatchObject({ files: 2, bytes: 105, skipped: 0, deleted: 0 })
  })

  it('is zero for an empty run', () => {
    expect(totals(report([]))).toEqual({ files: 0, bytes: 0, skipped: 0, deleted: 0 })
  })

  it('counts empty files as files', () => {
    const files: FileResult[] = [{ source: 'e', target: '/t/e', size: 0, status: 'transferred' }]
    expect(totals(report(files))).toMatchObject({ files: 1, bytes: 0 })
  })
})

describe('writeOutputs', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'manifest-'))
  const saved = process.env.GITHUB_OUTPUT
  beforeAll(() => {
    process.env.GITHUB_OUTPUT = path.join(dir, 'output')
    writeFileSync(process.env.GITHUB_OUTPUT, '')
  })
  afterAll(() => {
    process.env.GITHUB_OUTPUT = saved
    rmSync(dir, { recursive: true, force: true })
  })

  // Written a slice of rows at a time, the manifest must still read as one JSON document.
  it.each([0, 1, 1000, 2501])('writes %i rows as JSON.stringify would', async count => {
    const files: FileResult[] = Array.from({ length: count }, (_, i) => ({
      source: `/w/a "quoted"\nname ${i}`,
      target: `/t/${i}`,
      size: i,
      status: i % 3 ? 'transferred' : 'failed',
      ...(i % 3 ? {} : { error: 'line one\nline two' }),
      // Kinds a row can hold: what JSON.stringify leaves out or escapes must read the same.
      ...(i % 5 === 1 ? { server: 'ünï 😀 \ud800 \u2028 <x> "q"\t', sha256: undefined } : {}),
      ...(i % 7 === 2 ? { plan: 'skip' as const, size: Number.NaN } : {})
    }))
    const full: RunReport = {
      ...report(files),
      hosts: [
        {
          role: 'server',
          address: 'h:22',
          keyType: 'ssh-ed25519',
          fingerprint: 'SHA256:x',
          pinLabel: 'p'
        }
      ],
      releasePath: '/srv/releases/1'
    }
    const file = path.join(dir, `manifest-${count}.json`)
    await writeOutputs(full, file)
    const expected = {
      direction: full.direction,
      releasePath: full.releasePath,
      hosts: full.hosts,
      files
    }
    expect(readFileSync(file, 'utf8')).toBe(`${JSON.stringify(expected, null, 2)}\n`)
  })
})

/** What a reader sees: character references decoded. */
function decode(html: string): string {
  return html.replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)))
}

describe('writeSummary', () => {
  // @actions/core keeps the summary file's path once it has read it: one file for all tests.
  const dir = mkdtempSync(path.join(tmpdir(), 'summary-'))
  const file = path.join(dir, 'summary.md')
  const saved = process.env.GITHUB_STEP_SUMMARY

  beforeEach(() => {
    writeFileSync(file, '')
    process.env.GITHUB_STEP_SUMMARY = file
  })

  afterAll(() => {
    if (saved === undefined) delete process.env.GITHUB_STEP_SUMMARY
    else process.env.GITHUB_STEP_SUMMARY = saved
    rmSync(dir, { recursive: true, force: true })
  })

  it('says FAILED, not done, when the step failed after a server was reached', async () => {
    const host = {
      role: 'server' as const,
      address: '127.0.0.1:22',
      keyType: 'ssh-ed25519',
      fingerprint: 'SHA256:x',
      pinLabel: ''
    }
    await writeSummary({
      direction: 'upload',
      hosts: [host],
      files: [],
      durationMs: 1,
      failed: true
    })
    expect(readFileSync(file, 'utf8')).toContain('SFTP upload: FAILED')
  })

  const hostile =
    'x\n\n# Owned\n[click](http://evil.example/)\n![i](http://evil.example/i.png) | <script>`'

  it('shows foreign text from every source as plain text, never as Markdown or HTML', async () => {
    await writeSummary({
      direction: 'upload',
      dryRun: true,
      releasePath: `/srv/releases/${hostile}`,
      selected: { path: `/in/${hostile}`, size: 1, mtime: 0 },
      hosts: [
        {
          role: 'server',
          address: '127.0.0.1:22',
          keyType: '',
          fingerprint: '',
          pinLabel: '',
          error: `bye ${hostile}`
        },
        {
          role: 'server',
          address: '127.0.0.1:23',
          keyType: 'ssh-ed25519',
          fingerprint: 'SHA256:abc',
          pinLabel: 'p',
          error: `status ${hostile}`
        }
      ],
      files: [
        {
          source: `/ws/${hostile}`,
          target: `/t/${hostile}`,
          size: 1,
          status: 'planned',
          plan: 'create'
        },
        {
          source: `/remote/${hostile}`,
          target: '',
          size: 0,
          status: 'refused',
          error: `refused ${hostile}`
        },
        {
          source: 'a',
          target: '/t/a',
          size: 1,
          status: 'failed',
          error: `denied ${hostile}`,
          server: `s ${hostile}`
        }
      ],
      durationMs: 1000
    })
    const text = readFileSync(file, 'utf8')
    const lines = text.split('\n').filter((l, i, all) => i < all.length - 1 || l !== '')
    // No blank line ends the HTML, and no line is anything but HTML: nothing renders as Markdown.
    expect(lines.every(l => l.startsWith('<'))).toBe(true)
    expect(text).not.toMatch(/<(script|img|a)\b/i)
    expect(text).not.toMatch(/\]\(|!\[|\||`/)
    // Every foreign text is there for the reader, its newlines shown as \n.
    const shown =
      'x\\n\\n# Owned\\n[click](http://evil.example/)\\n![i](http://evil.example/i.png) | <script>`'
    const visible = decode(text)
    for (const where of [
      '/srv/releases/',
      '/in/',
      'bye ',
      'status ',
      '/t/',
      '/remote/',
      'refused ',
      'denied ',
      's '
    ]) {
      expect(visible).toContain(`${where}${shown}`)
    }
  })

  it('names a server refused for its host key and the key it presented', async () => {
    await writeSummary({
      direction: 'download',
      hosts: [
        {
          role: 'server',
          address: '127.0.0.1:2222',
          keyType: '',
          fingerprint: '',
          pinLabel: '',
          error: 'The host key of 127.0.0.1:2222 matches no pin',
          presented: [{ keyType: 'ssh-ed25519', fingerprint: 'SHA256:AbC+/x', revoked: false }]
        }
      ],
      files: [],
      durationMs: 10
    })
    const text = decode(readFileSync(file, 'utf8'))
    expect(text).toContain('FAILED')
    expect(text).toContain('127.0.0.1:2222')
    expect(text).toContain('refused, presented ssh-ed25519 SHA256:AbC+/x')
  })
})

describe('refusedHostReport', () => {
  const refusal = (hostInput: string): HostKeyError =>
    new HostKeyError('matches no pin', {
      address: '127.0.0.1:2222',
      hostInput,
      presented: [{ keyType: 'ssh-ed25519', fingerprint: 'SHA256:x', revoked: false }]
    })

  it('makes a row naming the host, its role and the keys it presented', () => {
    expect(refusedHostReport(refusal('host'), 'upload')).toEqual({
      role: 'server',
      address: '127.0.0.1:2222',
      keyType: '',
      fingerprint: '',
      pinLabel: '',
      error: 'matches no pin',
      presented: [{ keyType: 'ssh-ed25519', fingerprint: 'SHA256:x', revoked: false }]
    })
    expect(refusedHostReport(refusal('host'), 'relay')?.role).toBe('source')
    expect(refusedHostReport(refusal('target-host'), 'relay')?.role).toBe('target')
    expect(refusedHostReport(refusal('jump-host'), 'upload')?.role).toBe('jump')
    expect(refusedHostReport(refusal('target-jump-host'), 'relay')?.role).toBe('jump')
  })

  it('is undefined for any other failure', () => {
    expect(refusedHostReport(new Error('boom'), 'upload')).toBeUndefined()
    expect(refusedHostReport(new HostKeyError('changed mid-session'), 'upload')).toBeUndefined()
  })
})
