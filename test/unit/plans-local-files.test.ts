import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { InputError } from '../../src/errors.js'
import { listLocalFiles, toPosix, type LocalFile } from '../../src/plans/local-files.js'
import { rejected } from './real-keys.js'

let ws: string

/** Writes a file of the given text below the workspace, creating its directories. */
function put(rel: string, text: string): void {
  const abs = path.join(ws, rel)
  mkdirSync(path.dirname(abs), { recursive: true })
  writeFileSync(abs, text)
}

beforeAll(() => {
  ws = mkdtempSync(path.join(tmpdir(), 'unit-local-'))
  put('README.md', 'readme\n')
  put('dist/index.html', '<html></html>')
  put('dist/app.js', 'console.log(1)')
  put('dist/app.js.map', '{}')
  put('dist/.well-known/security.txt', 'Contact: x')
  put('dist/assets/logo.png', 'PNG!')
  put('docs/a.md', 'a')
  put('docs/guide/b.md', 'bb')
  put('other/index.html', 'different')
  mkdirSync(path.join(ws, 'links'))
  symlinkSync('../README.md', path.join(ws, 'links', 'to-file'))
  symlinkSync('../docs', path.join(ws, 'links', 'to-dir'))
  symlinkSync('../nowhere', path.join(ws, 'links', 'dangling'))
})

afterAll(() => rmSync(ws, { recursive: true, force: true }))

async function list(include: string[], exclude: string[] = [], warnings: string[] = []) {
  return listLocalFiles({ include, exclude }, ws, m => warnings.push(m))
}

const rels = (files: LocalFile[]) => files.map(f => f.rel)

describe('listLocalFiles', () => {
  it('sends the contents of a directory, dotfiles included', async () => {
    const files = await list(['dist'])
    expect(rels(files)).toEqual([
      '.well-known/security.txt',
      'app.js',
      'app.js.map',
      'assets/logo.png',
      'index.html'
    ])
    const logo = files.find(f => f.rel === 'assets/logo.png')
    expect(logo).toEqual({
      path: path.join(ws, 'dist/assets/logo.png'),
      rel: 'assets/logo.png',
      size: 4
    })
  })

  it('treats dist/ and ./dist the same as dist', async () => {
    const plain = await list(['dist'])
    expect(await list(['dist/'])).toEqual(plain)
    expect(await list(['./dist'])).toEqual(plain)
  })

  it('lands a single file under its basename', async () => {
    expect(await list(['docs/guide/b.md'])).toEqual([
      { path: path.join(ws, 'docs/guide/b.md'), rel: 'b.md', size: 2 }
    ])
  })

  it('keeps glob matches relative to the literal base', async () => {
    expect(rels(await list(['docs/**/*.md']))).toEqual(['a.md', 'guide/b.md'])
    expect(rels(await list(['dist/*.js']))).toEqual(['app.js'])
  })

  it('matches dotfiles with wildcards', async () => {
    expect(rels(await list(['dist/.well-known/*']))).toEqual(['security.txt'])
    expect(rels(await list(['dist/**/*.txt']))).toEqual(['.well-known/security.txt'])
  })

  it('takes the contents of a directory a glob names', async () => {
    expect(rels(await list(['docs/gui*']))).toEqual(['guide/b.md'])
    expect(rels(await list(['do*s']))).toEqual(['docs/a.md', 'docs/guide/b.md'])
  })

  it('leaves out ! excludes, by name at any depth or by directory', async () => {
    expect(rels(await list(['dist'], ['*.map', 'assets']))).toEqual([
      '.well-known/security.txt',
      'app.js',
      'index.html'
    ])
  })

  it('matches excludes against the workspace-relative path too', async () => {
    expect(rels(await list(['dist'], ['dist/assets', 'dist/.well-known']))).toEqual([
      'app.js',
      'app.js.map',
      'index.html'
    ])
  })

  it('reads a bare exclude below the source only, never as a folder on the way to it', async () => {
    // `!docs` names folders called docs inside what is sent; the source itself sits in docs/.
    expect(rels(await list(['docs/guide/'], ['docs']))).toEqual(['b.md'])
    expect(rels(await list(['docs/'], ['guide']))).toEqual(['a.md'])
    // Read the same way whatever the spelling: `./docs` is the bare name, `docs\guide` a path.
    expect(rels(await list(['docs/guide/'], ['./docs']))).toEqual(['b.md'])
    expect(rels(await list(['docs'], ['docs\\guide']))).toEqual(['a.md'])
  })

  it('refuses a line whose every match is excluded, as it refuses one that matches nothing', async () => {
    const error = await rejected(() => list(['dist', 'docs/'], ['*.md']))
    expect(error).toBeInstanceOf(InputError)
    expect((error as InputError).message).toContain(
      "'docs/' matches 2 files, but the '!' lines exclude every one"
    )
  })

  it('follows a link to a file but not one to a directory, and warns', async () => {
    const warnings: string[] = []
    const files = await list(['links'], [], warnings)
    expect(files).toEqual([{ path: path.join(ws, 'links/to-file'), rel: 'to-file', size: 7 }])
    expect(warnings).toHaveLength(2)
    expect(warnings.find(w => w.includes('to-dir'))).toMatch(/not followed/)
    expect(warnings.find(w => w.includes('dangling'))).toMatch(/points to nothing/)
  })

  it('does not follow a link to a file outside the workspace (a runner secret, say)', async () => {
    const outside = mkdtempSync(path.join(tmpdir(), 'unit-outside-'))
    try {
      writeFileSync(path.join(outside, 'id_rsa'), 'PRIVATE')
      mkdirSync(path.join(ws, 'leaky'))
      symlinkSync(path.join(outside, 'id_rsa'), path.join(ws, 'leaky', 'key'))
      writeFileSync(path.join(ws, 'leaky', 'ok.txt'), 'ok')
      const warnings: string[] = []
      const files = await list(['leaky'], [], warnings)
      expect(rels(files)).toEqual(['ok.txt'])
      expect(warnings.join('\n')).toMatch(/key: the link points outside the workspace/)
    } finally {
      rmSync(outside, { recursive: true, force: true })
      rmSync(path.join(ws, 'leaky'), { recursive: true, force: true })
    }
  })

  it('throws InputError(source) for a pattern that matches nothing', async () => {
    for (const pattern of ['missing.txt', 'docs/*.pdf', 'nowhere/**']) {
      const error = await rejected(() => list(['dist', pattern]))
      expect(error).toBeInstanceOf(InputError)
      expect((error as InputError).input).toBe('source')
      expect((error as InputError).message).toContain(`'${pattern}' matches no file`)
    }
  })

  it('throws when two different files land on the same path', async () => {
    const error = await rejected(() => list(['dist', 'other']))
    expect(error).toBeInstanceOf(InputError)
    expect((error as InputError).input).toBe('source')
    expect((error as InputError).message).toContain("same target path 'index.html'")
  })

  it('accepts the same file named twice, once', async () => {
    expect(await list(['dist/app.js', 'dist/*.js'])).toEqual([
      { path: path.join(ws, 'dist/app.js'), rel: 'app.js', size: 14 }
    ])
  })

  it('sorts the result by target path whatever the pattern order', async () => {
    const files = await list(['docs/guide/b.md', 'README.md', 'dist/index.html', 'docs/a.md'])
    expect(rels(files)).toEqual(['README.md', 'a.md', 'b.md', 'index.html'])
  })
})

describe('toPosix', () => {
  it('joins with / using the platform separator', () => {
    expect(toPosix(['a', 'b', 'c'].join(path.sep))).toBe('a/b/c')
  })
})
