import * as patterns from '../../src/plans/patterns.js'
import { makeExcluder, pathPrefixes, scanPattern } from '../../src/plans/patterns.js'

describe('scanPattern', () => {
  it('keeps a literal path whole, with no glob', () => {
    expect(scanPattern('dist/app.js')).toEqual({ base: 'dist/app.js', glob: '' })
    expect(scanPattern('dist/')).toEqual({ base: 'dist/', glob: '' })
  })

  it('splits a glob at its last literal directory', () => {
    expect(scanPattern('build/site/**/*.html')).toEqual({ base: 'build/site', glob: '**/*.html' })
    expect(scanPattern('src/{a,b}/x')).toEqual({ base: 'src', glob: '{a,b}/x' })
  })

  it('starts at once when the glob leads', () => {
    expect(scanPattern('*.txt')).toEqual({ base: '', glob: '*.txt' })
    expect(scanPattern('**')).toEqual({ base: '', glob: '**' })
  })

  it('drops a leading ./', () => {
    expect(scanPattern('./src/*.ts')).toEqual({ base: 'src', glob: '*.ts' })
  })

  it('turns backslashes into slashes', () => {
    expect(scanPattern('dist\\app.js')).toEqual({ base: 'dist/app.js', glob: '' })
    expect(scanPattern('build\\*.js')).toEqual({ base: 'build', glob: '*.js' })
  })

  it('treats a dot directory as literal', () => {
    expect(scanPattern('.config/*')).toEqual({ base: '.config', glob: '*' })
  })
})

describe('pathPrefixes', () => {
  it('lists every leading directory and the path itself', () => {
    expect(pathPrefixes('a/b/c')).toEqual(['a', 'a/b', 'a/b/c'])
    expect(pathPrefixes('file')).toEqual(['file'])
  })

  it('ignores empty parts', () => {
    expect(pathPrefixes('/a//b/')).toEqual(['a', 'a/b'])
    expect(pathPrefixes('')).toEqual([])
  })
})

describe('makeExcluder', () => {
  it('excludes nothing without patterns', () => {
    expect(makeExcluder([])('anything', 'node_modules/x')).toBe(false)
  })

  it('matches a slashless pattern at any depth', () => {
    const excluded = makeExcluder(['*.map'])
    expect(excluded('app.js.map')).toBe(true)
    expect(excluded('a/b/c/app.js.map')).toBe(true)
    expect(excluded('a/b/c/app.js')).toBe(false)
  })

  it('prunes a whole subtree when a directory is excluded', () => {
    const excluded = makeExcluder(['node_modules'])
    expect(excluded('node_modules/pkg/index.js')).toBe(true)
    expect(excluded('packages/web/node_modules/pkg/index.js')).toBe(true)
    expect(excluded('packages/web/node_modules_backup/x')).toBe(false)
    expect(excluded('packages/web/index.js')).toBe(false)
  })

  it('anchors a pattern with a slash and prunes below it', () => {
    const excluded = makeExcluder(['build/tmp'])
    expect(excluded('build/tmp')).toBe(true)
    expect(excluded('build/tmp/deep/file')).toBe(true)
    expect(excluded('other/build/tmp/file')).toBe(false)
    expect(excluded('build/tmpfile')).toBe(false)
  })

  it('ignores a trailing slash and a leading ./ on the pattern', () => {
    const excluded = makeExcluder(['./cache/', 'logs/'])
    expect(excluded('cache/a')).toBe(true)
    expect(excluded('x/logs/today.log')).toBe(true)
    expect(excluded('x/cached')).toBe(false)
  })

  it('matches a pattern written as a full path against a full path', () => {
    const excluded = makeExcluder(['/var/www/site/cache'])
    expect(excluded('cache/a.html', '/var/www/site/cache/a.html')).toBe(true)
    expect(excluded('index.html', '/var/www/site/index.html')).toBe(false)
    expect(excluded('cache/a.html', '/srv/other/cache/a.html')).toBe(false)
  })

  it('anchors a pattern with a leading slash, like .gitignore', () => {
    const excluded = makeExcluder(['/cache'])
    expect(excluded('cache/a')).toBe(true)
    expect(excluded('sub/cache/a')).toBe(false)
  })

  it('accepts backslashes in the pattern', () => {
    expect(makeExcluder(['build\\tmp'])('build/tmp/a')).toBe(true)
  })

  it('matches dotfiles and dot directories with wildcards', () => {
    const excluded = makeExcluder(['*rc', '.git'])
    expect(excluded('.npmrc')).toBe(true)
    expect(excluded('sub/.eslintrc')).toBe(true)
    expect(excluded('.git/config')).toBe(true)
    expect(excluded('.github/workflows/ci.yml')).toBe(false)
    expect(makeExcluder(['*'])('.hidden')).toBe(true)
  })

  it('excludes when any of the given paths matches', () => {
    const excluded = makeExcluder(['site/private/**'])
    expect(excluded('private/a.txt', 'site/private/a.txt')).toBe(true)
    expect(excluded('public/a.txt', 'site/public/a.txt')).toBe(false)
  })

  it('applies every pattern', () => {
    const excluded = makeExcluder(['*.log', 'tmp'])
    expect(excluded('a/b.log')).toBe(true)
    expect(excluded('tmp/b.txt')).toBe(true)
    expect(excluded('a/b.txt')).toBe(false)
  })
})

describe('makeTargetExcluder', () => {
  it('matches remote files by the path the user wrote for the source side', () => {
    const { makeTargetExcluder } = patterns
    const isExcluded = makeTargetExcluder(
      { include: ['public/', 'extra/*.txt'], exclude: ['public/uploads/**', '*.bak'] },
      '/var/www/site'
    )
    expect(isExcluded('uploads/a.jpg')).toBe(true)
    expect(isExcluded('uploads')).toBe(true)
    expect(isExcluded('deep/old.bak')).toBe(true)
    expect(isExcluded('index.html')).toBe(false)
    expect(isExcluded('css/uploads.css')).toBe(false)
  })

  it('matches full remote paths too', () => {
    const isExcluded = patterns.makeTargetExcluder(
      { include: ['dist'], exclude: ['/var/www/site/cache'] },
      '/var/www/site'
    )
    expect(isExcluded('cache/x')).toBe(true)
    expect(isExcluded('cached/x')).toBe(false)
  })
})

describe('makeTargetExcluder and bare names', () => {
  it('a bare name never matches a folder of the target path itself', () => {
    const isExcluded = patterns.makeTargetExcluder(
      { include: ['/tmp/build'], exclude: ['tmp', 'cache'] },
      '/tmp/site'
    )
    expect(isExcluded('index.html')).toBe(false)
    expect(isExcluded('tmp/x')).toBe(true)
    expect(isExcluded('a/cache/y')).toBe(true)
  })
})
