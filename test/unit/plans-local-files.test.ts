import {
  mkdirSync,
  mkdtempSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { InputError } from '../../src/errors.js'
import {
  listLocalFiles,
  sizeUnsized,
  surelyHasAFile,
  toPosix,
  UNSIZED,
  type LocalFile
} from '../../src/plans/local-files.js'
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

/** The times and mode a stat of `rel` (a link followed) reports, as a walk's record holds them. */
function statOf(rel: string): Pick<LocalFile, 'mtime' | 'atime' | 'mode'> {
  const info = statSync(path.join(ws, rel))
  return { mtime: info.mtimeMs / 1000, atime: info.atimeMs / 1000, mode: info.mode }
}

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
      size: 4,
      ...statOf('dist/assets/logo.png')
    })
  })

  it('keeps the times and mode of the stat that gave the size, for preserve', async () => {
    // Fractions kept: the upload floors them to whole seconds, as it did from its own stat.
    utimesSync(path.join(ws, 'docs/a.md'), 1_600_000_000.5, 1_500_000_000.25)
    const [file] = await list(['docs/a.md'])
    expect(file.atime).toBeCloseTo(1_600_000_000.5, 3)
    expect(file.mtime).toBeCloseTo(1_500_000_000.25, 3)
    expect(file.mode).toBe(statSync(path.join(ws, 'docs/a.md')).mode)
    const walked = (await list(['docs'])).find(f => f.rel === 'a.md')
    expect(walked).toEqual(file)
  })

  it('treats dist/ and ./dist the same as dist', async () => {
    const plain = await list(['dist'])
    expect(await list(['dist/'])).toEqual(plain)
    expect(await list(['./dist'])).toEqual(plain)
  })

  it('lands a single file under its basename', async () => {
    expect(await list(['docs/guide/b.md'])).toEqual([
      { path: path.join(ws, 'docs/guide/b.md'), rel: 'b.md', size: 2, ...statOf('docs/guide/b.md') }
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
    expect(files).toEqual([
      { path: path.join(ws, 'links/to-file'), rel: 'to-file', size: 7, ...statOf('README.md') }
    ])
    expect(warnings).toHaveLength(2)
    expect(warnings.find(w => w.includes('to-dir'))).toMatch(/not followed/)
    expect(warnings.find(w => w.includes('dangling'))).toMatch(/points to nothing/)
  })

  describe('links that lead out of the workspace', () => {
    let outside: string
    beforeAll(() => {
      outside = mkdtempSync(path.join(tmpdir(), 'unit-outside-'))
      writeFileSync(path.join(outside, 'id_rsa'), 'PRIVATE')
      mkdirSync(path.join(outside, 'build'))
      writeFileSync(path.join(outside, 'build', 'out.txt'), 'built')
      put('leaky/ok.txt', 'ok')
      symlinkSync(path.join(outside, 'id_rsa'), path.join(ws, 'leaky', 'key'))
      put('leaky-dir/ok.txt', 'ok')
      symlinkSync(outside, path.join(ws, 'leaky-dir', 'home'))
      symlinkSync(outside, path.join(ws, 'home'))
      symlinkSync(path.join(outside, 'id_rsa'), path.join(ws, 'key.txt'))
    })
    afterAll(() => {
      rmSync(outside, { recursive: true, force: true })
      for (const p of ['leaky', 'leaky-dir', 'home', 'key.txt'])
        rmSync(path.join(ws, p), { recursive: true, force: true })
    })

    async function refused(include: string[], exclude: string[] = []): Promise<string> {
      const error = await rejected(() => list(include, exclude))
      expect(error).toBeInstanceOf(InputError)
      expect((error as InputError).input).toBe('source')
      return (error as InputError).message
    }

    it('refuses a file link met while walking, naming it and where it points', async () => {
      expect(await refused(['leaky'])).toContain(
        `'leaky/key' is a symbolic link that leads outside the workspace (to ${realpathSync(outside)}/id_rsa)`
      )
    })

    it('refuses a folder link met while walking, though folder links are never followed', async () => {
      expect(await refused(['leaky-dir'])).toMatch(/'leaky-dir\/home' is a symbolic link/)
    })

    it('refuses a source, a file source or a folder on the way that is such a link', async () => {
      expect(await refused(['home'])).toMatch(/'home' is a symbolic link/)
      expect(await refused(['key.txt'])).toMatch(/'key.txt' is a symbolic link/)
      expect(await refused(['home/build'])).toMatch(/'home' is a symbolic link/)
      expect(await refused(['home/build/*.txt'])).toMatch(/'home' is a symbolic link/)
    })

    it('refuses such a link that a glob selects, in the base folder or below it', async () => {
      expect(await refused(['leaky/*'])).toMatch(/'leaky\/key'/)
      expect(await refused(['*.txt'])).toMatch(/'key.txt'/)
      expect(await refused(['ho*'])).toMatch(/'home'/)
    })

    it('counts further such links in the one error', async () => {
      expect(await refused(['leaky', 'leaky-dir'])).toMatch(/'leaky\/key'/)
      expect(await refused(['*'], ['README.md'])).toMatch(/\(and 3 more links like it\)/)
    })

    it('leaves out such a link that a ! line excludes or a glob does not select', async () => {
      expect(rels(await list(['leaky'], ['key']))).toEqual(['ok.txt'])
      const warnings: string[] = []
      expect(rels(await list(['leaky/*.txt'], [], warnings))).toEqual(['ok.txt'])
      expect(warnings.join('\n')).toMatch(/key: the link leads outside the workspace/)
    })

    it("refuses a link into the checkout's .git folder, where its token is kept", async () => {
      put('.git/config', '[http] extraheader = AUTHORIZATION: basic dG9rZW4=')
      put('pub/index.html', 'hi')
      symlinkSync('../.git/config', path.join(ws, 'pub', 'config'))
      symlinkSync('.git', path.join(ws, 'git-link'))
      try {
        expect(await refused(['pub'])).toContain(
          `'pub/config' is a symbolic link that leads into a .git folder`
        )
        expect(await refused(['git-link/config'])).toMatch(/'git-link' is a symbolic link/)
        // Named outright by the workflow's author, it is the author's choice.
        expect(rels(await list(['.git/config']))).toEqual(['config'])
      } finally {
        for (const p of ['.git', 'pub', 'git-link']) rmSync(path.join(ws, p), { recursive: true })
      }
    })

    it('takes a folder written outside the workspace as written', async () => {
      const built = path.join(outside, 'build')
      symlinkSync(path.join(ws, 'README.md'), path.join(built, 'readme'))
      try {
        expect(rels(await list([built]))).toEqual(['out.txt', 'readme'])
        symlinkSync(path.join(outside, 'id_rsa'), path.join(built, 'key'))
        expect(await refused([built])).toContain(
          `'${built}/key' is a symbolic link that leads outside the source folder`
        )
      } finally {
        rmSync(path.join(built, 'readme'), { force: true })
        rmSync(path.join(built, 'key'), { force: true })
      }
    })
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
      { path: path.join(ws, 'dist/app.js'), rel: 'app.js', size: 14, ...statOf('dist/app.js') }
    ])
  })

  it('sorts the result by target path whatever the pattern order', async () => {
    const files = await list(['docs/guide/b.md', 'README.md', 'dist/index.html', 'docs/a.md'])
    expect(rels(files)).toEqual(['README.md', 'a.md', 'b.md', 'index.html'])
  })
})

// Hashing starts on what the walk reports while it goes on: it must report exactly the files the
// upload keeps (a glob's unselected files or an excluded node_modules hashed for nothing would
// cost as much as the rest).
describe('listLocalFiles: files told as found', () => {
  async function told(include: string[], exclude: string[] = []) {
    const seen: string[] = []
    const files = await listLocalFiles(
      { include, exclude },
      ws,
      () => undefined,
      abs => seen.push(abs)
    )
    return { seen: [...seen].sort(), paths: files.map(f => f.path).sort() }
  }

  it.each([
    [['dist'], []],
    [['dist'], ['*.map', 'assets']],
    [['dist'], ['dist/.well-known']],
    [['docs/**/*.md'], []],
    [['do*s'], ['b.md']],
    [['dist/*.js', 'docs'], []],
    [['docs/guide/b.md'], []],
    [['links'], []]
  ])('tells of exactly the files kept: %j without %j', async (include, exclude) => {
    const { seen, paths } = await told(include, exclude)
    expect(paths.length).toBeGreaterThan(0)
    expect(seen).toEqual(paths)
  })
})

// The connections start while the source is read: a walk that kept the event loop to itself
// held their key exchange back for as long as it took.
describe('listLocalFiles: a long walk lets the event loop in', () => {
  let tree: string
  beforeAll(() => {
    tree = mkdtempSync(path.join(tmpdir(), 'unit-walk-'))
    for (let d = 0; d < 10; d++) {
      mkdirSync(path.join(tree, `d${d}`))
      for (let f = 0; f < 100; f++) writeFileSync(path.join(tree, `d${d}`, `f${f}`), 'x')
    }
  })
  afterAll(() => rmSync(tree, { recursive: true, force: true }))

  it.each([[['.']], [['*/f*']]])('runs other callbacks while %j is walked', async include => {
    let turns = 0
    let walking = false
    let done = false
    // Turns of the event loop counted only between the first file found and the walk's end.
    const turn = (): void => {
      if (walking) turns++
      if (!done) setImmediate(turn)
    }
    setImmediate(turn)
    let files: LocalFile[]
    try {
      files = await listLocalFiles(
        { include, exclude: [] },
        tree,
        () => undefined,
        () => {
          walking = true
          // Slow every file down (about 40 ms in all) so the walk is long on any machine.
          const until = performance.now() + 0.04
          while (performance.now() < until);
        }
      )
    } finally {
      walking = false
      done = true
    }
    expect(files).toHaveLength(1000)
    expect(turns).toBeGreaterThanOrEqual(3)
  })
})

// A second thread reading every file for its hash tells the sizes: the walk leaves them out.
describe('listLocalFiles: sizes left to the hashing', () => {
  it('leaves walked files unsized, and sizeUnsized stats them', async () => {
    const files = await listLocalFiles(
      { include: ['dist', 'links', 'README.md'], exclude: [] },
      ws,
      () => undefined,
      undefined,
      true
    )
    const size = (rel: string) => files.find(f => f.rel === rel)?.size
    expect(size('assets/logo.png')).toBe(UNSIZED)
    // A followed link and a file named on its own were stat'ed on the way: they keep their size.
    expect(size('to-file')).toBe(7)
    expect(size('README.md')).toBe(7)
    sizeUnsized(files)
    expect(size('assets/logo.png')).toBe(4)
    expect(size('index.html')).toBe(13)
    expect(files.every(f => f.size >= 0)).toBe(true)
  })
})

describe('toPosix', () => {
  it('joins with / using the platform separator', () => {
    expect(toPosix(['a', 'b', 'c'].join(path.sep))).toBe('a/b/c')
  })
})

describe('surelyHasAFile', () => {
  const sure = (include: string[], exclude: string[] = []) =>
    surelyHasAFile({ include, exclude }, ws)

  it('is sure of a folder with a file within, or a file', async () => {
    expect(await sure(['dist'])).toBe(true)
    expect(await sure(['docs/guide'])).toBe(true)
    expect(await sure(['README.md', 'other'])).toBe(true)
  })

  // Not sure means the connection waits for the walk, as before: never a login for a typo.
  it('is not sure of a missing path, an empty folder, a glob or a `!` line', async () => {
    mkdirSync(path.join(ws, 'empty/deeper'), { recursive: true })
    expect(await sure(['nope'])).toBe(false)
    expect(await sure(['dist', 'nope'])).toBe(false)
    expect(await sure(['empty'])).toBe(false)
    expect(await sure(['dist/*.js'])).toBe(false)
    expect(await sure(['dist'], ['*.map'])).toBe(false)
  })
})
